package nn

import (
	"runtime"

	"github.com/autotag/autotag/nn/gemm"
)

// minParallelWork is the number of float operations below which a loop runs on one
// goroutine: splitting smaller jobs costs more in scheduling than it saves.
const minParallelWork = 1 << 14

// rangeTask is the body of a parallel loop over [lo, hi). Bodies are structs owned by
// an operator or workspace rather than closures, so that handing one to a worker
// goroutine allocates nothing.
type rangeTask = gemm.RangeTask

// parallel runs task over [0, n) on up to gemm.Threads() goroutines (the caller and
// the GEMM's workers, see gemm.ParallelFor), when work, the total cost in float
// operations, is large enough, GOMAXPROCS allows and serial (a runner that is one of
// several running side by side, see Runner) is false; otherwise inline.
func parallel(serial bool, n, work int, task rangeTask) {
	if serial || n < 2 || work < minParallelWork || runtime.GOMAXPROCS(0) < 2 {
		task.RunRange(0, n)
		return
	}
	gemm.ParallelFor(n, task)
}
