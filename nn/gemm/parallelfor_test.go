package gemm

import (
	"sync/atomic"
	"testing"
)

// countTask counts how often each index is visited.
type countTask struct{ seen []atomic.Int32 }

func (c *countTask) RunRange(lo, hi int) {
	for i := lo; i < hi; i++ {
		c.seen[i].Add(1)
	}
}

func TestParallelForCoversOnce(t *testing.T) {
	defer SetThreads(0)
	for _, threads := range []int{1, 2, 3, 5} {
		SetThreads(threads)
		for _, n := range []int{0, 1, 2, 3, 7, 64, 1001} {
			c := &countTask{seen: make([]atomic.Int32, n)}
			for rep := 0; rep < 3; rep++ {
				ParallelFor(n, c)
			}
			for i := range c.seen {
				if got := c.seen[i].Load(); got != 3 {
					t.Fatalf("threads %d n %d: index %d visited %d times, want 3", threads, n, i, got)
				}
			}
		}
	}
}

func TestParallelForAllocatesNothing(t *testing.T) {
	defer SetThreads(0)
	SetThreads(2)
	c := &countTask{seen: make([]atomic.Int32, 100)}
	ParallelFor(100, c)
	if a := testing.AllocsPerRun(20, func() { ParallelFor(100, c) }); a > 0 && !raceEnabled {
		t.Errorf("ParallelFor allocates %.1f times per call", a)
	}
}
