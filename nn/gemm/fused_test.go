package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// TestSgemmPackedAFused checks the implicit-B and epilogue fusions against naive plus the
// same epilogue (bias per row, then ReLU), in both orientations, on every kernel and at
// 1 and 2 threads, and that the epilogue sees every element of C exactly once.
func TestSgemmPackedAFused(t *testing.T) {
	defer forceOrient.Store(orientAuto)
	defer SetThreads(0)
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(51, 52))
		for _, o := range []int32{orientNormal, orientTransposed} {
			for _, th := range []int{1, 2} {
				for _, sz := range [][3]int{{64, 49, 400}, {33, 70, 65}, {130, 196, 9}, {1, 1, 1}} {
					for _, useFill := range []bool{false, true} {
						for _, beta := range []float32{0, 0.5} {
							forceOrient.Store(o)
							SetThreads(th)
							name := fmt.Sprintf("o%d_t%d_%v_fill%v_beta%v", o, th, sz, useFill, beta)
							checkFused(t, r, name, sz[0], sz[1], sz[2], useFill, beta)
						}
					}
				}
			}
		}
	})
}

func checkFused(t *testing.T, r *rand.Rand, name string, m, n, k int, useFill bool, beta float32) {
	t.Helper()
	ldb, ldc := n+3, n+1
	a, b := randSlice(r, m*k), randSlice(r, k*ldb)
	bias := randSlice(r, m)
	c := randSlice(r, m*ldc)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	want, _ := naive(false, false, m, n, k, 1.5, a, k, b, ldb, beta, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			want[i*n+j] = math.Max(0, want[i*n+j]+float64(bias[i]))
		}
	}
	seen := make([]atomic.Int32, m*n)
	epi := func(i0, i1, j0, j1 int) {
		for i := i0; i < i1; i++ {
			for j := j0; j < j1; j++ {
				seen[i*n+j].Add(1)
				c[i*ldc+j] = max(0, c[i*ldc+j]+bias[i])
			}
		}
	}
	var fill FillB
	bArg := b
	if useFill {
		fill = func(dst []float32, p0, kc, j0, nc int) {
			for p := 0; p < kc; p++ {
				copy(dst[p*nc:(p+1)*nc], b[(p0+p)*ldb+j0:])
			}
		}
		bArg = nil
	}
	pa := PackA(false, m, k, a, k)
	SgemmPackedAFused(pa, n, 1.5, bArg, ldb, fill, beta, c, ldc, epi)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if s := seen[i*n+j].Load(); s != 1 {
				t.Fatalf("%s: epilogue saw C[%d][%d] %d times", name, i, j, s)
			}
			if d := math.Abs(float64(c[i*ldc+j]) - want[i*n+j]); !(d <= 1e-5*float64(k+4)) {
				t.Fatalf("%s: C[%d][%d] = %v, want %v", name, i, j, c[i*ldc+j], want[i*n+j])
			}
		}
	}
}
