package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkKernel measures each micro-kernel alone on cache-resident panels (kc = its
// block depth, full tiles, beta = 1): the ceiling the blocked driver can approach.
func BenchmarkKernel(b *testing.B) {
	for _, kn := range kernels {
		for _, trans := range []bool{false, true} {
			fn, name := kn.fn, kn.name
			if trans {
				if kn.fnT == nil {
					continue
				}
				fn, name = kn.fnT, kn.name+"_transposed"
			}
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				kc := kn.kc
				a, bp := randSlice(r, kn.mr*kc), randSlice(r, kn.nr*kc)
				ld := max(kn.mr, kn.nr)
				c := randSlice(r, ld*ld)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				clock := cpuTime(true)
				c0 := clock()
				for b.Loop() {
					fn(kc, a, bp, c, ld, kn.mr, kn.nr, 1, 1)
				}
				flop := 2 * float64(kn.mr*kn.nr*kc) * float64(b.N)
				b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flop/(clock()-c0).Seconds()/1e9, "cpu-GFLOP/s")
			})
		}
	}
}
