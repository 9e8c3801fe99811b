package train

import (
	"math"
	"slices"
	"testing"
)

func TestPosWeightsAndRepeatFactors(t *testing.T) {
	// 4 images × 3 classes: class 0 in 1 image, class 1 in 4, class 2 in none
	y := []float32{1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0}
	if got, want := PosWeights(y, 3, 2), []float32{2, 1, 1}; !slices.Equal(got, want) { // 3/1 clamped to 2; 0/4 → 1
		t.Errorf("pos weights %v, want %v", got, want)
	}
	// t = 0.5: f_0 = 1/4 → r = √2; f_1 = 1 → 1
	r := RepeatFactors(y, 3, 0.5)
	if math.Abs(r[0]-math.Sqrt2) > 1e-12 || r[1] != 1 {
		t.Errorf("repeat factors %v", r)
	}
	s := RepeatFactorSampler(r, 1)
	if a, b := s(3), s(3); !slices.Equal(a, b) {
		t.Error("sampler not deterministic")
	}
	total := 0
	for e := 0; e < 1000; e++ {
		for _, i := range s(e) {
			if i == 0 {
				total++
			}
		}
	}
	if math.Abs(float64(total)/1000-math.Sqrt2) > 0.05 {
		t.Errorf("image 0 drawn %.3f times per epoch, want √2", float64(total)/1000)
	}
}
