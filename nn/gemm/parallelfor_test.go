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

func TestSgemmPackedASerialMatches(t *testing.T) {
	defer SetThreads(0)
	SetThreads(2)
	for _, s := range [][3]int{{64, 49, 512}, {256, 196, 128}, {33, 70, 19}, {512, 16, 512}} {
		m, n, k := s[0], s[1], s[2]
		a, b := make([]float32, m*k), make([]float32, k*n)
		for i := range a {
			a[i] = float32(i%13) - 6
		}
		for i := range b {
			b[i] = float32(i%7) - 3
		}
		pa := PackA(false, m, k, a, k)
		want, got := make([]float32, m*n), make([]float32, m*n)
		SgemmPackedA(pa, false, n, 1, b, n, 0, want, n)
		SgemmPackedASerial(pa, false, n, 1, b, n, 0, got, n)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%dx%dx%d: [%d] = %g, want %g", m, n, k, i, got[i], want[i])
			}
		}
	}
}

// TestConcurrentCallers runs products and loops from several goroutines at once (as
// several runners do): every result must still be right.
func TestConcurrentCallers(t *testing.T) {
	defer SetThreads(0)
	SetThreads(2)
	const m, n, k = 64, 200, 96
	a, b := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(i%5) - 2
	}
	for i := range b {
		b[i] = float32(i%3) - 1
	}
	pa := PackA(false, m, k, a, k)
	want := make([]float32, m*n)
	SgemmPackedASerial(pa, false, n, 1, b, n, 0, want, n)
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			c := make([]float32, m*n)
			ct := &countTask{seen: make([]atomic.Int32, 500)}
			for rep := 0; rep < 50; rep++ {
				SgemmPackedA(pa, false, n, 1, b, n, 0, c, n)
				ParallelFor(500, ct)
				for i := range want {
					if c[i] != want[i] {
						errs <- "wrong product"
						return
					}
				}
			}
			for i := range ct.seen {
				if ct.seen[i].Load() != 50 {
					errs <- "loop index not visited once per call"
					return
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
}
