package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// conv3x3 is a stride-1, pad-1 3×3 convolution on one CHW image, for benchmarking the two
// ways nn can feed it to the GEMM.
type conv3x3 struct {
	c, h, w, o int
	x, bias    []float32
}

// im2colBlock writes rows [p0, p0+kc) × columns [j0, j0+nc) of the im2col matrix
// (row p = (channel, ky, kx), column j = output pixel) into dst with row stride ld.
func (cv *conv3x3) im2colBlock(dst []float32, ld, p0, kc, j0, nc int) {
	for p := p0; p < p0+kc; p++ {
		ch, ky, kx := p/9, p/3%3, p%3
		row := dst[(p-p0)*ld : (p-p0)*ld+nc]
		src := cv.x[ch*cv.h*cv.w:]
		for j := j0; j < j0+nc; {
			y, x0 := j/cv.w, j%cv.w
			run := min(cv.w-x0, j0+nc-j) // output pixels left on this output row
			d := row[j-j0 : j-j0+run]
			iy := y + ky - 1
			if iy < 0 || iy >= cv.h {
				clear(d)
			} else {
				s := src[iy*cv.w:]
				for t := range d {
					ix := x0 + t + kx - 1
					if ix < 0 || ix >= cv.w {
						d[t] = 0
					} else {
						d[t] = s[ix]
					}
				}
			}
			j += run
		}
	}
}

// BenchmarkConv3x3 compares, on ResNet50's 3×3 convs at batch 1, the unfused path (whole
// im2col matrix, SgemmPackedA, then a bias+ReLU pass) with SgemmPackedAFused (im2col by
// blocks through FillB, bias+ReLU in the epilogue).
func BenchmarkConv3x3(b *testing.B) {
	defer SetThreads(0)
	for _, th := range []int{1, 2} {
		for _, s := range []struct{ c, hw, o int }{{64, 56, 64}, {128, 28, 128}, {256, 14, 256}, {512, 7, 512}} {
			r := rand.New(rand.NewPCG(1, 1))
			cv := &conv3x3{c: s.c, h: s.hw, w: s.hw, o: s.o, x: randSlice(r, s.c*s.hw*s.hw), bias: randSlice(r, s.o)}
			k, n := 9*s.c, s.hw*s.hw
			w := randSlice(r, s.o*k)
			pa := PackA(false, s.o, k, w, k)
			y := make([]float32, s.o*n)
			cols := make([]float32, k*n)
			fill := FillB(func(dst []float32, p0, kc, j0, nc int) { cv.im2colBlock(dst, nc, p0, kc, j0, nc) })
			epi := Epilogue(func(i0, i1, j0, j1 int) {
				for i := i0; i < i1; i++ {
					row, bi := y[i*n+j0:i*n+j1], cv.bias[i]
					for j, v := range row {
						row[j] = max(0, v+bi)
					}
				}
			})
			flop := 2 * float64(s.o*n*k)
			b.Run(fmt.Sprintf("%dx%dx%d/unfused/t%d", s.c, s.hw, s.hw, th), func(b *testing.B) {
				SetThreads(th)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				clock, c0 := cpuTime(th == 1), time.Duration(0)
				c0 = clock()
				for b.Loop() {
					cv.im2colBlock(cols, n, 0, k, 0, n)
					SgemmPackedA(pa, false, n, 1, cols, n, 0, y, n)
					epi(0, s.o, 0, n)
				}
				b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flop*float64(b.N)/(clock()-c0).Seconds()/1e9, "cpu-GFLOP/s")
			})
			want := append([]float32(nil), y...)
			b.Run(fmt.Sprintf("%dx%dx%d/fused/t%d", s.c, s.hw, s.hw, th), func(b *testing.B) {
				SetThreads(th)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				clock, c0 := cpuTime(th == 1), time.Duration(0)
				c0 = clock()
				for b.Loop() {
					SgemmPackedAFused(pa, n, 1, nil, n, fill, 0, y, n, epi)
				}
				b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flop*float64(b.N)/(clock()-c0).Seconds()/1e9, "cpu-GFLOP/s")
			})
			for i := range y {
				if math.Abs(float64(y[i]-want[i])) > 1e-3 {
					b.Fatalf("fused and unfused differ at %d: %v vs %v", i, y[i], want[i])
				}
			}
		}
	}
}
