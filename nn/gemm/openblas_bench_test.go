//go:build openblas

package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/autotag/autotag/nn/gemm/internal/openblas"
)

// BenchmarkVsOpenBLAS times Sgemm and OpenBLAS's cblas_sgemm in alternating blocks on
// every ResNet50 conv shape at 1 and 2 threads, so both see the same machine load, and
// reports both rates and their ratio (ours/openblas; above 1 means we are faster), by mean
// wall time, by CPU time (cpu-ratio) and by the fastest single call (best-*). Run with
//
//	go test -tags openblas -run '^$' -bench VsOpenBLAS ./nn/gemm
func BenchmarkVsOpenBLAS(b *testing.B) { vsOpenBLAS(b, false) }

// BenchmarkPackedVsOpenBLAS is BenchmarkVsOpenBLAS with our A (the weights) packed once
// beforehand, as nn's convolutions run; OpenBLAS still packs on every call.
func BenchmarkPackedVsOpenBLAS(b *testing.B) { vsOpenBLAS(b, true) }

func vsOpenBLAS(b *testing.B, packed bool) {
	defer SetThreads(0)
	for _, th := range []int{1, 2} {
		for _, s := range resnet50Shapes {
			b.Run(fmt.Sprintf("%s_%dx%dx%d/t%d", s.name, s.m, s.n, s.k, th), func(b *testing.B) {
				SetThreads(th)
				openblas.SetThreads(th)
				r := rand.New(rand.NewPCG(1, 1))
				a, bm := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n)
				c, ref := make([]float32, s.m*s.n), make([]float32, s.m*s.n)
				ours := func() { Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, c, s.n) }
				if packed {
					pa := PackA(false, s.m, s.k, a, s.k)
					ours = func() { SgemmPackedA(pa, false, s.n, 1, bm, s.n, 0, c, s.n) }
				}
				theirs := func() { openblas.Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, ref, s.n) }
				ours()
				theirs()
				for i := range c {
					if d := math.Abs(float64(c[i] - ref[i])); d > 1e-3 {
						b.Fatalf("C[%d] = %v, OpenBLAS says %v", i, c[i], ref[i])
					}
				}
				// Wall time, and CPU time of this thread (1 thread) or the process (2 threads):
				// on a loaded machine CPU time is the steadier measure of the kernels (with
				// 2 threads it also counts idle spinning: OpenBLAS's more than ours).
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				clock := cpuTime(th == 1)
				var tOurs, tTheirs, cOurs, cTheirs time.Duration
				bestOurs, bestTheirs := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
				// Each library runs in blocks of its own, alternating, with a pause between
				// blocks: idle OpenBLAS threads busy-wait for a while (as ours poll for
				// spinTime), and a spinner must not steal a core from the other library.
				timeBlock := func(f func(), n int, wall, cpu, best *time.Duration) {
					for range n {
						c0, t0 := clock(), time.Now()
						f()
						d := time.Since(t0)
						*wall += d
						*cpu += clock() - c0
						*best = min(*best, d)
					}
					b.StopTimer()
					time.Sleep(pause)
					b.StartTimer()
				}
				const rounds = 4
				b.ResetTimer()
				for r := range rounds {
					n := b.N/rounds + btoi(r < b.N%rounds)
					timeBlock(ours, n, &tOurs, &cOurs, &bestOurs)
					timeBlock(theirs, n, &tTheirs, &cTheirs, &bestTheirs)
				}
				flop := 2 * float64(s.m*s.n*s.k) * float64(b.N)
				b.ReportMetric(flop/tOurs.Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flop/tTheirs.Seconds()/1e9, "openblas-GFLOP/s")
				b.ReportMetric(tTheirs.Seconds()/tOurs.Seconds(), "ratio")
				b.ReportMetric(cTheirs.Seconds()/cOurs.Seconds(), "cpu-ratio")
				// Fastest single call of each: the closest a loaded machine gets to an idle one.
				one := 2 * float64(s.m*s.n*s.k)
				b.ReportMetric(one/bestOurs.Seconds()/1e9, "best-GFLOP/s")
				b.ReportMetric(one/bestTheirs.Seconds()/1e9, "best-openblas-GFLOP/s")
				b.ReportMetric(bestTheirs.Seconds()/bestOurs.Seconds(), "best-ratio")
			})
		}
	}
}

// pause separates benchmark blocks: long enough for OpenBLAS's idle threads to stop
// spinning (2^28 cycles by default, about 0.07 s) and ours to park.
const pause = 100 * time.Millisecond

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
