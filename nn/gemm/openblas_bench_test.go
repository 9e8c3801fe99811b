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

// BenchmarkVsOpenBLAS times Sgemm and OpenBLAS's cblas_sgemm back to back on every
// ResNet50 conv shape at 1 and 2 threads, so both see the same machine load, and
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
				// on a loaded machine CPU time is the steadier measure of the kernels.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				clock := cpuTime(th == 1)
				var tOurs, tTheirs, cOurs, cTheirs time.Duration
				bestOurs, bestTheirs := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
				b.ResetTimer()
				for b.Loop() {
					c0, t0 := clock(), time.Now()
					ours()
					c1, t1 := clock(), time.Now()
					theirs()
					c2, t2 := clock(), time.Now()
					tOurs += t1.Sub(t0)
					tTheirs += t2.Sub(t1)
					bestOurs = min(bestOurs, t1.Sub(t0))
					bestTheirs = min(bestTheirs, t2.Sub(t1))
					cOurs += c1 - c0
					cTheirs += c2 - c1
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
