package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// convShape is one ResNet50 convolution as a GEMM at batch 1, in the orientation nn uses:
// out[Cout, H·W] = W[Cout, Cin·kh·kw] · cols[Cin·kh·kw, H·W], i.e. M = Cout, N = H·W,
// K = Cin·kh·kw, all operands untransposed.
type convShape struct {
	name    string
	m, n, k int
}

// resnet50Shapes are the distinct conv GEMMs of ResNet50 (He et al. 2015) at 224².
var resnet50Shapes = []convShape{
	{"stem7x7", 64, 12544, 147},
	{"l1_1x1_in", 64, 3136, 64},
	{"l1_3x3", 64, 3136, 576},
	{"l1_1x1_out", 256, 3136, 64},
	{"l2_3x3", 128, 784, 1152},
	{"l2_1x1_out", 512, 784, 128},
	{"l3_3x3", 256, 196, 2304},
	{"l3_1x1_out", 1024, 196, 256},
	{"l4_3x3", 512, 49, 4608},
	{"l4_1x1_out", 2048, 49, 512},
}

// benchShapes runs f for every ResNet50 shape at 1 and 2 threads and reports GFLOP/s.
func benchShapes(b *testing.B, f func(s convShape, a, bm, c []float32)) {
	benchShapeList(b, resnet50Shapes, f)
}

// benchShapeList is benchShapes over the given shapes.
func benchShapeList(b *testing.B, shapes []convShape, f func(s convShape, a, bm, c []float32)) {
	defer SetThreads(0)
	for _, th := range []int{1, 2} {
		for _, s := range shapes {
			b.Run(fmt.Sprintf("%s_%dx%dx%d/t%d", s.name, s.m, s.n, s.k, th), func(b *testing.B) {
				SetThreads(th)
				r := rand.New(rand.NewPCG(1, 1))
				a, bm, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				f(s, a, bm, c) // warm up pools and caches
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				clock := cpuTime(th == 1)
				b.ResetTimer()
				c0 := clock()
				for b.Loop() {
					f(s, a, bm, c)
				}
				cpu := clock() - c0
				flop := 2 * float64(s.m*s.n*s.k) * float64(b.N)
				b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				// CPU-time rate: steadier on a loaded machine; with 2 threads it is per
				// CPU-second, i.e. about half the wall rate when both cores are busy.
				b.ReportMetric(flop/cpu.Seconds()/1e9, "cpu-GFLOP/s")
			})
		}
	}
}

// BenchmarkSgemm measures Sgemm with the default kernel on the ResNet50 conv shapes.
func BenchmarkSgemm(b *testing.B) {
	benchShapes(b, func(s convShape, a, bm, c []float32) {
		Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, c, s.n)
	})
}

// BenchmarkSgemmPackedA measures SgemmPackedA (weights packed once) on the same shapes.
func BenchmarkSgemmPackedA(b *testing.B) {
	packed := map[convShape]*PackedA{}
	benchShapes(b, func(s convShape, a, bm, c []float32) {
		pa := packed[s]
		if pa == nil {
			pa = PackA(false, s.m, s.k, a, s.k)
			packed[s] = pa
		}
		SgemmPackedA(pa, false, s.n, 1, bm, s.n, 0, c, s.n)
	})
}

// BenchmarkOrientation runs the narrow ResNet50 shapes (layers 3-4, n = 196 and 49) in
// each orientation (orient.go), plain and pre-packed, to check the automatic choice.
func BenchmarkOrientation(b *testing.B) {
	defer forceOrient.Store(orientAuto)
	narrow := resnet50Shapes[6:]
	for _, o := range []struct {
		name string
		v    int32
	}{{"normal", orientNormal}, {"transposed", orientTransposed}} {
		b.Run(o.name, func(b *testing.B) {
			forceOrient.Store(o.v)
			b.Run("plain", func(b *testing.B) {
				benchShapeList(b, narrow, func(s convShape, a, bm, c []float32) {
					Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bm, s.n, 0, c, s.n)
				})
			})
			packed := map[convShape]*PackedA{}
			b.Run("packed", func(b *testing.B) {
				benchShapeList(b, narrow, func(s convShape, a, bm, c []float32) {
					pa := packed[s]
					if pa == nil {
						pa = PackA(false, s.m, s.k, a, s.k)
						packed[s] = pa
					}
					SgemmPackedA(pa, false, s.n, 1, bm, s.n, 0, c, s.n)
				})
			})
		})
	}
}
