package nn

import (
	"math/rand/v2"
	"testing"
)

// TestEpilogueRowMatchesGo compares the AVX2 epilogue with the pure-Go one on every
// length up to 70 and every bias/residual/ReLU combination (the results must be
// bit-identical: the same float32 additions in the same order).
func TestEpilogueRowMatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 70; n++ {
		for _, withRes := range []bool{false, true} {
			for _, relu := range []bool{false, true} {
				y := randSlice(n, rng)
				var res []float32
				if withRes {
					res = randSlice(n, rng)
				}
				want := append([]float32(nil), y...)
				epilogueRowGo(want, res, 0.25, relu)
				epilogueRow(y, res, 0.25, relu)
				for i := range y {
					if y[i] != want[i] {
						t.Fatalf("n=%d res=%t relu=%t: [%d] = %g, want %g", n, withRes, relu, i, y[i], want[i])
					}
				}
			}
		}
	}
}

// TestIm2colSamePath checks im2col's stride-1 "same" shortcut (shiftPlane) against the
// general path on odd and even sizes with 3x3/pad 1 and 5x5/pad 2 kernels.
func TestIm2colSamePath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct{ h, w, k, p int }{{5, 5, 3, 1}, {7, 4, 3, 1}, {1, 6, 3, 1}, {6, 6, 5, 2}, {2, 3, 5, 2}} {
		const ch = 2
		x := randSlice(ch*c.h*c.w, rng)
		n, kk := c.h*c.w, ch*c.k*c.k
		got := randSlice(kk*n, rng) // garbage: every element must be written
		want := make([]float32, kk*n)
		im2col(x, c.h*c.w, c.h, c.w, c.k, 1, c.p, c.h, c.w, got, n, 0, ch)
		// reference: the definition, element by element
		for cc := 0; cc < ch; cc++ {
			for i := 0; i < c.k; i++ {
				for j := 0; j < c.k; j++ {
					for oy := 0; oy < c.h; oy++ {
						for ox := 0; ox < c.w; ox++ {
							iy, ix := oy-c.p+i, ox-c.p+j
							if iy >= 0 && iy < c.h && ix >= 0 && ix < c.w {
								want[((cc*c.k+i)*c.k+j)*n+oy*c.w+ox] = x[cc*c.h*c.w+iy*c.w+ix]
							}
						}
					}
				}
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: col[%d] = %g, want %g", c, i, got[i], want[i])
			}
		}
	}
}
