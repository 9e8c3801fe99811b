package nn

import (
	"fmt"
	"sync/atomic"

	"github.com/autotag/autotag/nn/gemm"
	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds what all of nn's Gorgonia operators share: types, buffers, ids and
// the panic guard.

// opIDs numbers operator instances, so that two operators never hash alike and
// Gorgonia never merges two nodes that merely look the same.
var opIDs atomic.Uint64

// tensorType is a Gorgonia tensor type of dims dimensions over the type variable a.
func tensorType(dims int) hm.Type {
	return &gorgonia.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

// fnType builds the function type in₁ → … → out from tensor ranks.
func fnType(dims ...int) hm.Type {
	ts := make([]hm.Type, len(dims))
	for i, d := range dims {
		ts[i] = tensorType(d)
	}
	return hm.NewFnType(ts...)
}

// outBuf is an operator's own output tensor, allocated on the first run and reused by
// every later run with the same shape: the source of the Runner's zero-allocation
// steady state. The tensor belongs to the operator; whoever reads it must copy what it
// keeps beyond the next run.
type outBuf struct{ t *tensor.Dense }

// get returns the buffer with shape dims, (re)allocating only when the shape changes.
func (o *outBuf) get(dims ...int) *tensor.Dense {
	if o.t != nil {
		s := o.t.Shape()
		if len(s) == len(dims) {
			same := true
			for i, d := range dims {
				same = same && s[i] == d
			}
			if same {
				return o.t
			}
		}
	}
	o.t = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(dims...))
	return o.t
}

// workspace is the scratch shared by the operators of one graph, which run one at a
// time: the im2col / Winograd buffer and the bodies of the kernels' parallel loops.
// Kernels given a nil *workspace make a temporary one.
type workspace struct {
	buf     []float32
	unroll  unrollTask
	epi     epilogueTask
	winoIn  winoInputTask
	winoOut winoOutputTask
	winoMul winoMulTask
	// fused: run packed convolutions through gemm.SgemmPackedAFused (see fused.go)
	fused bool
	// serial: run every kernel on the calling goroutine (a runner working beside
	// others on one batch, see Runner.Forward)
	serial bool
	// the fused GEMM's callbacks: method values made once
	fs     fillState
	fe     fusedEpilogue
	fillFn gemm.FillB
	epiFn  gemm.Epilogue
}

// newWorkspace returns an empty workspace with its callbacks bound; its convolutions
// fuse the epilogue (bias / residual / ReLU applied by fusedEpilogue.apply, called by
// gemm.SgemmPackedAFused, to each block of the output while it is in cache), the
// default Engine; a Runner sets fused from its model's Engine.
func newWorkspace() *workspace {
	ws := &workspace{fused: true}
	ws.fillFn, ws.epiFn = ws.fs.fill, ws.fe.apply
	return ws
}

// get returns n floats of scratch, growing the workspace if needed.
func (w *workspace) get(n int) []float32 {
	if cap(w.buf) < n {
		w.buf = make([]float32, n)
	}
	return w.buf[:n]
}

// dense returns v's float32 backing and shape, or an error for anything else.
func dense(v gorgonia.Value) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok || d.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("nn: want a float32 *tensor.Dense, got %T", v)
	}
	return d, nil
}

// denses unpacks the inputs of an operator expecting n (≤ 5) float32 dense tensors.
// It returns an array, not a slice, so that the hot path allocates nothing.
func denses(op fmt.Stringer, n int, inputs []gorgonia.Value) (ds [5]*tensor.Dense, err error) {
	if len(inputs) != n || n > len(ds) {
		return ds, fmt.Errorf("nn: %v: want %d inputs, got %d", op, n, len(inputs))
	}
	for i, v := range inputs {
		if ds[i], err = dense(v); err != nil {
			return ds, fmt.Errorf("%v input %d: %w", op, i, err)
		}
	}
	return ds, nil
}

// guard turns a kernel panic (a bug, or a shape Gorgonia let through) into the error
// of the operator's Do: Gorgonia runs operators on its own goroutine, where a panic
// would kill the process instead of reaching the caller.
func guard(op fmt.Stringer, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("nn: %v: %v", op, r)
	}
}

// base implements the Op methods every nn operator shares.
type base struct{ id uint64 }

func newBase() base { return base{id: opIDs.Add(1)} }

// ReturnsPtr is false: results are fresh values as far as Gorgonia knows.
func (base) ReturnsPtr() bool { return false }

// CallsExtern is false: everything runs on the CPU in Go.
func (base) CallsExtern() bool { return false }

// OverwritesInput is -1: no operator writes into its inputs.
func (base) OverwritesInput() int { return -1 }
