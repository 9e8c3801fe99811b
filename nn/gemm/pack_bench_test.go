package gemm

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkPack packs the 512×4608 weights of ResNet50's layer-4 3×3 conv (one kc block
// at a time, as the driver does) in the two roles a weight matrix can take: A-role panels
// (normal orientation) and B-role panels of its transpose (transposed orientation).
func BenchmarkPack(b *testing.B) {
	const m, k = 512, 4608
	r := rand.New(rand.NewPCG(1, 1))
	a := randSlice(r, m*k)
	for _, kn := range kernels {
		kc, _, _ := blockSizes(kn)
		b.Run(kn.name+"/A-role", func(b *testing.B) {
			dst := make([]float32, ceilDiv(m, kn.mr)*kn.mr*kc)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			clock := cpuTime(true)
			c0 := clock()
			for b.Loop() {
				for p0 := 0; p0 < k; p0 += kc {
					packA(dst, false, a, k, 0, m, p0, min(kc, k-p0), kn.mr)
				}
			}
			b.ReportMetric(float64(m*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gfloat/s")
			b.ReportMetric(float64(m*k)*float64(b.N)/(clock()-c0).Seconds()/1e9, "cpu-Gfloat/s")
		})
		b.Run(kn.name+"/B-role", func(b *testing.B) {
			dst := make([]float32, ceilDiv(m, kn.nr)*kn.nr*kc)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			clock := cpuTime(true)
			c0 := clock()
			for b.Loop() {
				for p0 := 0; p0 < k; p0 += kc {
					packB(dst, true, a, k, p0, min(kc, k-p0), 0, m, kn.nr)
				}
			}
			b.ReportMetric(float64(m*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gfloat/s")
			b.ReportMetric(float64(m*k)*float64(b.N)/(clock()-c0).Seconds()/1e9, "cpu-Gfloat/s")
		})
	}
}
