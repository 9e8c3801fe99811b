package train

import (
	"math"
	"slices"
	"testing"
)

// TestStepGraphGradients runs the same batch twice (gradients must not accumulate)
// and checks dL/dW of a linear head numerically against the float64 reference loss.
func TestStepGraphGradients(t *testing.T) {
	h := NewHead(HeadSpec{}, 3, 2, 1)
	l, _ := NewLoss("asl")
	g, err := newStepGraph(h, l, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	x := []float32{1, 2, 3, 4, 5, 6}
	y := []float32{1, 0, 0, 1}
	copy(g.xT.Data().([]float32), x)
	l.Coefficients(y, nil, 2, g.posT.Data().([]float32), g.negT.Data().([]float32))
	_, g1, err := g.run()
	if err != nil {
		t.Fatal(err)
	}
	first := slices.Clone(g1[0])
	_, g2, err := g.run()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first, g2[0]) {
		t.Fatalf("gradients changed between identical runs: %v then %v", first, g2[0])
	}
	const eps = 1e-2
	for i := range h.W[0] {
		orig := h.W[0][i]
		h.W[0][i] = orig + eps
		lp := l.Value(h.Forward(x, 2), y, nil, 2)
		h.W[0][i] = orig - eps
		lm := l.Value(h.Forward(x, 2), y, nil, 2)
		h.W[0][i] = orig
		num := (lp - lm) / (2 * eps)
		if math.Abs(float64(first[i])-num) > 1e-3+1e-2*math.Abs(num) {
			t.Errorf("dL/dW[%d] = %v, numeric %v", i, first[i], num)
		}
	}
}
