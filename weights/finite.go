package weights

import (
	"fmt"
	"math"
	"sort"

	"gorgonia.org/tensor"
)

// A NaN or an infinity in a weight poisons every output it reaches: the model then
// answers NaN for every image. Files are checked once, at import, at load and at
// save, so a model that passed never yields a non-finite value from its weights.

// firstNonFinite returns the index of the first NaN or ±Inf in v, or -1. It is one
// pass over the floats: x-x is 0 for every finite x and NaN otherwise.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if x-x != 0 {
			return i
		}
	}
	return -1
}

// nonFiniteError names the tensor and the first bad element.
func nonFiniteError(name string, v []float32, i int) error {
	what := "NaN"
	if math.IsInf(float64(v[i]), 0) {
		what = fmt.Sprintf("%v", v[i])
	}
	return fmt.Errorf("tensor %q holds a non-finite value (%s) at index %d: the model is corrupt or diverged in training", name, what, i)
}

// checkFinite checks every float32 tensor of ts, in name order so the error is
// reproducible.
func checkFinite(ts map[string]*tensor.Dense) error {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := ts[n]
		if d == nil {
			continue
		}
		v, ok := d.Data().([]float32)
		if !ok {
			continue
		}
		if i := firstNonFinite(v); i >= 0 {
			return nonFiniteError(n, v, i)
		}
	}
	return nil
}
