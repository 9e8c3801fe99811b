package nn

import (
	"runtime"
	"sync"
)

// minParallelWork is the number of float operations below which a loop runs on one
// goroutine: splitting smaller jobs costs more in scheduling than it saves.
const minParallelWork = 1 << 14

// parallelFor runs fn over [0, n) split in two halves on two goroutines (the CPUs this
// project targets have 2 cores; the GEMM parallelises itself) when work, the total cost
// in float operations, is large enough and GOMAXPROCS allows; otherwise inline.
func parallelFor(n, work int, fn func(lo, hi int)) {
	if n < 2 || work < minParallelWork || runtime.GOMAXPROCS(0) < 2 {
		fn(0, n)
		return
	}
	mid := n / 2
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(mid, n)
	}()
	fn(0, mid)
	wg.Wait()
}
