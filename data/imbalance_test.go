package data

import (
	"math"
	"slices"
	"testing"
)

// toyDataset has 10 images over 4 classes: class 0 in 5 images, class 1 in 1, class
// 2 in none, class 3 in 9.
func toyDataset() *Dataset {
	ds := &Dataset{Classes: []string{"a", "b", "c", "d"}, Report: &Report{}}
	for i := 0; i < 10; i++ {
		var l []int
		if i < 5 {
			l = append(l, 0)
		}
		if i == 7 {
			l = append(l, 1)
		}
		if i != 9 {
			l = append(l, 3)
		}
		ds.Records = append(ds.Records, Record{Path: "x", Labels: l})
	}
	return ds
}

func TestPosWeights(t *testing.T) {
	got := PosWeights(toyDataset(), 1, 50)
	want := []float32{1, 9, 50, 1} // 5/5; 9/1; none → hi; 1/9 clamped to 1
	if !slices.Equal(got, want) {
		t.Errorf("PosWeights = %v, want %v", got, want)
	}
	if got := PosWeights(toyDataset(), 1, 5); got[1] != 5 {
		t.Errorf("clamp to hi: %v", got)
	}
}

func TestRepeatFactors(t *testing.T) {
	ds := toyDataset()
	r, err := RepeatFactors(ds, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// f_b = 0.1 → r = sqrt(0.5/0.1); f_a = 0.5 → 1; f_d = 0.9 → 1.
	for i, f := range r {
		want := 1.0
		if i == 7 {
			want = math.Sqrt(5)
		}
		if math.Abs(f-want) > 1e-12 {
			t.Errorf("r[%d] = %v, want %v", i, f, want)
		}
	}
	if _, err := RepeatFactors(ds, 0); err == nil {
		t.Error("threshold 0 accepted")
	}
	s, err := NewRepeatFactorSampler(ds, 0.5, 42)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Epoch(3), s.Epoch(3)) {
		t.Error("same epoch, different draw")
	}
	if slices.Equal(s.Epoch(3), s.Epoch(4)) {
		t.Error("epochs 3 and 4 drew the same order")
	}
	// Stochastic rounding: image 7 appears sqrt(5) ≈ 2.236 times per epoch on average.
	count := 0
	const epochs = 4000
	for e := 0; e < epochs; e++ {
		for _, i := range s.Epoch(e) {
			if i == 7 {
				count++
			}
		}
	}
	if mean := float64(count) / epochs; math.Abs(mean-math.Sqrt(5)) > 0.03 {
		t.Errorf("image 7 drawn %.3f times per epoch, want %.3f", mean, math.Sqrt(5))
	}
}
