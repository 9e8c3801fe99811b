package nn

import (
	"runtime"
	"sync"
)

// minParallelWork is the number of float operations below which a loop runs on one
// goroutine: splitting smaller jobs costs more in scheduling than it saves.
const minParallelWork = 1 << 14

// rangeTask is the body of a parallel loop over [lo, hi). Bodies are structs owned by
// an operator or workspace rather than closures, so that handing one to the helper
// goroutine allocates nothing.
type rangeTask interface{ run(lo, hi int) }

// helperJob is half of a parallel loop handed to the helper goroutine.
type helperJob struct {
	task   rangeTask
	lo, hi int
	wg     *sync.WaitGroup
}

// helpers is a small pool of long-lived goroutines that run the second half of
// parallel loops (started on first use; shared by all runners).
var helpers struct {
	once sync.Once
	jobs chan helperJob
}

func startHelpers() {
	helpers.jobs = make(chan helperJob, 64)
	for i := 0; i < max(1, runtime.NumCPU()-1); i++ {
		go func() {
			for j := range helpers.jobs {
				j.task.run(j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
}

// parallel runs task over [0, n) split in two halves, one on a helper goroutine and
// one on the caller (the CPUs this project targets have 2 cores; the GEMM
// parallelises itself), when work, the total cost in float operations, is large
// enough and GOMAXPROCS allows; otherwise inline. wg must not be in use by another
// loop (each task owner keeps its own).
func parallel(n, work int, task rangeTask, wg *sync.WaitGroup) {
	if n < 2 || work < minParallelWork || runtime.GOMAXPROCS(0) < 2 {
		task.run(0, n)
		return
	}
	helpers.once.Do(startHelpers)
	mid := n / 2
	wg.Add(1)
	helpers.jobs <- helperJob{task: task, lo: mid, hi: n, wg: wg}
	task.run(0, mid)
	wg.Wait()
}
