//go:build purego

package nn

import (
	"math/rand/v2"
	"testing"
)

// TestPuregoLinksNoEpilogueAssembly checks that the purego tag selects the pure-Go
// epilogue on every architecture (amd64 included), and that it computes the
// definition y = max(0, y + r + bias).
func TestPuregoLinksNoEpilogueAssembly(t *testing.T) {
	if useAVX2 {
		t.Fatal("purego build uses the AVX2 epilogue")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	y, r := randSlice(37, rng), randSlice(37, rng)
	want := make([]float32, len(y))
	for i := range y {
		want[i] = max(0, y[i]+0.5+r[i])
	}
	epilogueRow(y, r, 0.5, true)
	for i := range y {
		if y[i] != want[i] {
			t.Fatalf("[%d] = %g, want %g", i, y[i], want[i])
		}
	}
}
