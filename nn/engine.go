package nn

import (
	"runtime"

	"github.com/autotag/autotag/nn/gemm"
)

// Engine chooses between kernels that compute the same network, for one model and the
// runners built from it (Config.Engine). The zero value is the default, every
// optimisation on; each field turns one off, for A/B measurements (autotag bench
// --winograd, --fused, --data-parallel) and for tests of the plain paths. Results agree
// to float32 rounding whichever kernels run.
type Engine struct {
	// DisableWinograd runs the stride-1 3x3 convolutions by im2col + GEMM instead of
	// Winograd F(2x2,3x3) (winograd.go). When set at Bind, the model keeps no
	// Winograd-transformed weights (16/9 of the 3x3 weights) and none of its runners
	// can use them.
	DisableWinograd bool
	// DisableFusedGEMM applies bias / residual / ReLU in a separate pass after each
	// convolution's GEMM instead of to each block while it is in cache (fused.go).
	// Runners of batch 1 never fuse: the blocks are narrow there and the fused
	// epilogue loses (re-measure with autotag bench --fused both --batch 1,8).
	DisableFusedGEMM bool
	// DisableDataParallel makes NewRunner build one graph for a batch, each layer
	// split between the threads, instead of a Pool of single-threaded batch-1 runners
	// side by side (see DataParallelThreads).
	DisableDataParallel bool
}

// WithEngine returns a view of the bound model m whose runners use engine e. The view
// shares m's layers and folded weights, read-only; bind m, not the view. Weights Bind
// did not prepare (Winograd, when m was bound with DisableWinograd) stay unused.
func (m *ResNet50) WithEngine(e Engine) *ResNet50 {
	v := *m
	v.Config.Engine = e
	return &v
}

// DataParallelThreads is the number of single-threaded runners NewRunner gives a batch
// of this size (gemm.Threads, capped by GOMAXPROCS and the batch), or 0 when it builds
// one graph instead (DisableDataParallel, or batch 1).
//
// Data-parallel runners take the next image each, side by side, instead of splitting
// every layer between the threads: the threads never wait for each other inside the
// network (one hand-off per batch instead of several per layer), and each runs at
// batch 1's per-image cost, which on the 2-core machines this project runs on is
// below one batch graph's (re-measure with autotag bench --data-parallel both).
// Results are identical to batch 1's. It costs a batch-1 runner's memory per thread
// and batch 1's small per-image allocations (the tape machine's).
func (m *ResNet50) DataParallelThreads(batch int) int {
	if m.Config.Engine.DisableDataParallel || batch < 2 {
		return 0
	}
	return max(1, min(gemm.Threads(), runtime.GOMAXPROCS(0), batch))
}
