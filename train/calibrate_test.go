package train

import (
	"math"
	"testing"
)

// Same three images as TestEvaluateHandComputed.
//
//	a: .9+ .6− .3+ : F1 at ≥.9 = 2/3, ≥.6 = 1/2, ≥.3 = 4/5 → lowest score, 0.3
//	b: .7+ .4+ .2− : F1 at ≥.4 = 1 → midpoint of .4 and .2 = 0.3
//	c: no positives → 0.5
func TestCalibrateThresholds(t *testing.T) {
	probs := []float32{0.9, 0.2, 0.1, 0.6, 0.7, 0.6, 0.3, 0.4, 0.2}
	y := []float32{1, 0, 0, 0, 1, 0, 1, 1, 0}
	th, err := CalibrateThresholds(probs, y, 3, 0.05, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.3, 0.3, 0.5}
	for k := range want {
		if math.Abs(float64(th[k]-want[k])) > 1e-6 {
			t.Errorf("threshold[%d] = %v, want %v", k, th[k], want[k])
		}
	}
	// the floor binds when the best cut is at a tiny score
	th, _ = CalibrateThresholds([]float32{0.01, 0.001}, []float32{1, 0}, 1, 0.05, 1)
	if th[0] != 0.05 {
		t.Errorf("floored threshold = %v, want 0.05", th[0])
	}
	// with minPositives 2, class a (2 positives) is calibrated, b (2) too, a class with
	// one positive is not
	th, _ = CalibrateThresholds([]float32{0.01, 0.001}, []float32{1, 0}, 1, 0.05, 2)
	if th[0] != DefaultThreshold {
		t.Errorf("threshold with too few positives = %v, want %v", th[0], DefaultThreshold)
	}
	if _, err := CalibrateThresholds(probs, y[:3], 3, 0.05, 1); err == nil {
		t.Error("want an error for mismatched lengths")
	}
}
