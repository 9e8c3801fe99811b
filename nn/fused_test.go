package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/autotag/autotag/nn/gemm"
)

// TestFusedMatchesUnfused compares the fused GEMM (explicit or implicit im2col) against
// im2col + GEMM + epilogue over kernels 1/3/7, strides 1/2, paddings, odd sizes,
// batches 1-3 and both layouts, with and without residual. Tolerance: 1e-5 of the
// output's largest magnitude (the GEMM may block the sums differently).
func TestFusedMatchesUnfused(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		prev := implicitIm2col
		implicitIm2col = implicit
		checkFused(t)
		implicitIm2col = prev
	}
}

func checkFused(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct{ batch, c, o, h, w, k, s, p int }{
		{1, 3, 8, 9, 9, 7, 2, 3}, {2, 3, 5, 12, 10, 7, 2, 3}, {1, 8, 16, 8, 8, 3, 1, 1},
		{3, 5, 7, 7, 7, 3, 1, 1}, {2, 6, 4, 9, 8, 3, 2, 1}, {2, 16, 8, 7, 7, 1, 2, 0},
		{3, 4, 6, 5, 6, 1, 1, 0}, {1, 2, 3, 1, 1, 3, 1, 1},
	} {
		for _, layout := range [][2]bool{{false, false}, {false, true}, {true, true}} {
			for _, withRes := range []bool{false, true} {
				g := convGeom{batch: c.batch, c: c.c, h: c.h, w: c.w, o: c.o, k: c.k, s: c.s, p: c.p,
					inCNHW: layout[0], outCNHW: layout[1]}
				ho, wo := g.outSize()
				x := randSlice(c.batch*c.c*c.h*c.w, rng)
				w := randSlice(c.o*c.c*c.k*c.k, rng)
				b := randSlice(c.o, rng)
				var res []float32
				if withRes {
					res = randSlice(c.batch*c.o*ho*wo, rng)
				}
				packed := gemm.PackA(false, c.o, c.c*c.k*c.k, w, c.c*c.k*c.k)
				want := make([]float32, c.batch*c.o*ho*wo)
				got := randSlice(len(want), rng) // garbage: every output must be written
				convForward(g, x, w, b, res, want, true, newWorkspace(), nil)
				convForwardFused(g, x, b, res, got, true, newWorkspace(), packed)
				var scale float64
				for _, v := range want {
					scale = max(scale, math.Abs(float64(v)))
				}
				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*scale {
						t.Fatalf("%+v layout %v res=%t: [%d] = %g, want %g", c, layout, withRes, i, got[i], want[i])
					}
				}
			}
		}
	}
}
