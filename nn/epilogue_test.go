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
