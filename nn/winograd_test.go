package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestWinogradMatchesDirect compares the F(2x2,3x3) path with the im2col path on CNHW
// batches of even and odd sizes, with and without residual and ReLU. Tolerance: 1e-4
// of the output's largest magnitude (float32, different summation order).
func TestWinogradMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range []struct{ batch, c, o, h, w int }{
		{1, 8, 16, 8, 8}, {2, 5, 7, 7, 7}, {3, 4, 4, 5, 6}, {1, 3, 2, 1, 1}, {2, 16, 8, 14, 14},
	} {
		for _, withRes := range []bool{false, true} {
			g := convGeom{batch: c.batch, c: c.c, h: c.h, w: c.w, o: c.o, k: 3, s: 1, p: 1, inCNHW: true, outCNHW: true}
			x := randSlice(c.batch*c.c*c.h*c.w, rng)
			w := randSlice(c.o*c.c*9, rng)
			b := randSlice(c.o, rng)
			var res []float32
			if withRes {
				res = randSlice(c.batch*c.o*c.h*c.w, rng)
			}
			want := make([]float32, c.batch*c.o*c.h*c.w)
			got := randSlice(len(want), rng) // garbage: every output must be written
			convForward(g, x, w, b, res, want, true, newWorkspace(), nil)
			winogradForward(g, x, b, res, got, true, newWorkspace(), newWinogradWeights(w, c.o, c.c))
			var scale float64
			for _, v := range want {
				scale = max(scale, math.Abs(float64(v)))
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*scale {
					t.Fatalf("%+v res=%t: [%d] = %g, want %g", c, withRes, i, got[i], want[i])
				}
			}
		}
	}
}

// TestRunnerUsesWinograd checks that a Runner routes its 3x3 stride-1 convolutions
// through Winograd when enabled (TestForwardBatchConsistent and internal/reftest then
// check the results).
func TestRunnerUsesWinograd(t *testing.T) {
	m := NewResNet50(Config{Layout: KerasV1, NumClasses: 3})
	if err := m.Bind(randomParams(m, 4)); err != nil {
		t.Fatal(err)
	}
	// one graph for the batch; layer2: 2·196 tiles, layer3: 2·49, layer4: 2·16
	r, err := m.WithEngine(Engine{DisableDataParallel: true}).NewRunner(2, 224, 224)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, node := range r.g.AllNodes() {
		if op, ok := node.Op().(*convOp); ok && op.wino != nil {
			n++
		}
	}
	if n != 13 {
		t.Errorf("%d Winograd convolutions, want 13 (layer2-4's at batch 2; layer1 has too few channels)", n)
	}
}

// TestWinogradInputRowsMatchesTiles checks that the row-wise input transform gives
// exactly the tile-at-a-time one's values, borders and odd sizes included.
func TestWinogradInputRowsMatchesTiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range [][2]int{{1, 1}, {3, 4}, {5, 9}, {7, 7}, {14, 14}, {28, 28}, {8, 3}} {
		h, w := s[0], s[1]
		th, tw := (h+1)/2, (w+1)/2
		x := randSlice(h*w, rng)
		stride := th*tw + 3
		want, got := make([]float32, 16*stride), make([]float32, 16*stride)
		winogradInputTiles(x, h, w, th, tw, want, stride)
		winogradInput(x, h, w, th, tw, got, stride)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%dx%d: [%d] = %g, want %g", h, w, i, got[i], want[i])
			}
		}
	}
}
