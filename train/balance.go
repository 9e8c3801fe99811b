package train

import (
	"math"
	"math/rand/v2"
)

// PosWeights returns per-class pos_weight = negatives/positives of the 0/1 label
// matrix y ([n, classes]), clamped to [1, maxWeight] (PyTorch's BCEWithLogitsLoss
// pos_weight convention). A class without positives gets 1: there is nothing to
// up-weight.
func PosWeights(y []float32, classes int, maxWeight float32) []float32 {
	n := len(y) / classes
	pw := make([]float32, classes)
	for k := 0; k < classes; k++ {
		pos := 0
		for i := 0; i < n; i++ {
			if y[i*classes+k] > 0.5 {
				pos++
			}
		}
		w := float32(1)
		if pos > 0 {
			w = float32(n-pos) / float32(pos)
		}
		pw[k] = min(max(w, 1), maxWeight)
	}
	return pw
}

// RepeatFactors returns each image's repeat factor for class-balanced sampling
// (Gupta et al. 2019, LVIS, §3): a class seen in a fraction f_c of images gets
// r_c = max(1, √(t/f_c)), and an image the largest r_c of its labels (1 for an image
// without labels).
func RepeatFactors(y []float32, classes int, t float64) []float64 {
	n := len(y) / classes
	freq := make([]float64, classes)
	for i := 0; i < n; i++ {
		for k := 0; k < classes; k++ {
			if y[i*classes+k] > 0.5 {
				freq[k]++
			}
		}
	}
	r := make([]float64, n)
	for i := 0; i < n; i++ {
		r[i] = 1
		for k := 0; k < classes; k++ {
			if y[i*classes+k] > 0.5 {
				r[i] = math.Max(r[i], math.Max(1, math.Sqrt(t/(freq[k]/float64(n)))))
			}
		}
	}
	return r
}

// RepeatFactorSampler returns an epoch sampler that repeats image i ⌊r_i⌋ times plus
// once more with probability r_i − ⌊r_i⌋ (stochastic rounding, fresh each epoch),
// then shuffles; deterministic in (seed, epoch).
func RepeatFactorSampler(r []float64, seed uint64) func(epoch int) []int {
	return func(epoch int) []int {
		rng := rand.New(rand.NewPCG(seed^0x726673, uint64(epoch)+1)) // "rfs"
		var idx []int
		for i, f := range r {
			c := int(f)
			if rng.Float64() < f-float64(c) {
				c++
			}
			for j := 0; j < c; j++ {
				idx = append(idx, i)
			}
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		return idx
	}
}
