package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelsMatchTwin runs every micro-kernel (assembly ones included) on random packed
// panels, ragged rows and columns, a leading dimension wider than the tile, alpha/beta
// combinations and NaN garbage in C for beta = 0, and compares with kernelRef, the Go twin.
// Elements of C outside the rows×cols corner must stay untouched.
func TestKernelsMatchTwin(t *testing.T) {
	for _, kn := range kernels {
		t.Run(kn.name, func(t *testing.T) {
			testKernel(t, kn, kn.fn, kernelRef)
		})
		if kn.fnT != nil {
			t.Run(kn.name+"_transposed", func(t *testing.T) {
				testKernel(t, kn, kn.fnT, kernelRefT)
			})
		}
	}
}

// kernelFunc is the signature of kernel.fn and kernel.fnT.
type kernelFunc = func(kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32)

// testKernel compares fn, one of kn's kernels, with its twin ref.
func testKernel(t *testing.T, kn *kernel, fn kernelFunc, ref func(mr, nr, kc int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32)) {
	r := rand.New(rand.NewPCG(21, 22))
	for trial := range 300 {
		kc := 1 + r.IntN(70)
		if trial%50 == 0 {
			kc = 384 + r.IntN(20)
		}
		rows, cols := 1+r.IntN(kn.mr), 1+r.IntN(kn.nr)
		if trial%3 == 0 {
			rows, cols = kn.mr, kn.nr
		}
		ldc := max(kn.mr, kn.nr) + r.IntN(7)
		alpha := float32(r.IntN(5)-2) / 2
		beta := []float32{0, 1, -0.5, 2}[r.IntN(4)]
		a, b := randSlice(r, kn.mr*kc), randSlice(r, kn.nr*kc)
		c := randSlice(r, max(kn.mr, kn.nr)*ldc)
		if beta == 0 {
			for i := range c {
				c[i] = float32(math.NaN())
			}
		}
		want := append([]float32(nil), c...)
		ref(kn.mr, kn.nr, kc, a, b, want, ldc, rows, cols, alpha, beta)
		fn(kc, a, b, c, ldc, rows, cols, alpha, beta)
		for i := range c {
			g, w := c[i], want[i]
			if math.IsNaN(float64(w)) {
				if !math.IsNaN(float64(g)) {
					t.Fatalf("kc=%d rows=%d cols=%d: C[%d] outside the tile changed to %v", kc, rows, cols, i, g)
				}
				continue
			}
			if math.Abs(float64(g-w)) > 1e-5*float64(kc+2) {
				t.Fatalf("kc=%d rows=%d cols=%d ldc=%d alpha=%v beta=%v: C[%d][%d] = %v, twin says %v",
					kc, rows, cols, ldc, alpha, beta, i/ldc, i%ldc, g, w)
			}
		}
	}
}
