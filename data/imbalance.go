package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// PosWeights returns, per class, the positive-example weight for weighted binary
// cross-entropy: the ratio of negative to positive images, clamped to [lo, hi]
// (e.g. [1, 50]) so that rare classes are up-weighted without letting a class seen
// once dominate the loss. A class with no positives gets hi. This is PyTorch's
// BCEWithLogitsLoss pos_weight convention ("n_negative / n_positive").
func PosWeights(ds *Dataset, lo, hi float32) []float32 {
	st := ds.Stats()
	w := make([]float32, len(ds.Classes))
	for c, pos := range st.Positives {
		if pos == 0 {
			w[c] = hi
			continue
		}
		w[c] = min(hi, max(lo, float32(st.Images-pos)/float32(pos)))
	}
	return w
}

// DefaultRepeatThreshold is the repeat-factor threshold t used when none is given:
// classes in fewer than 10% of the images are oversampled. (LVIS uses 0.001 for its
// 1203 classes; COCO's 80 classes are far less skewed.)
const DefaultRepeatThreshold = 0.1

// RepeatFactors computes repeat-factor sampling (Gupta, Dollár & Girshick 2019,
// "LVIS", §5): with f_c the fraction of images containing class c, the class repeat
// factor is r_c = max(1, sqrt(t / f_c)) and an image's is the largest r_c over its
// classes (1 for an image without labels).
func RepeatFactors(ds *Dataset, t float64) ([]float64, error) {
	if !(t > 0) {
		return nil, fmt.Errorf("repeat factors: threshold %v must be > 0", t)
	}
	st := ds.Stats()
	rc := make([]float64, len(ds.Classes))
	for c, pos := range st.Positives {
		rc[c] = 1
		if pos > 0 {
			rc[c] = max(1, math.Sqrt(t/(float64(pos)/float64(st.Images))))
		}
	}
	ri := make([]float64, len(ds.Records))
	for i, r := range ds.Records {
		ri[i] = 1
		for _, c := range r.Labels {
			ri[i] = max(ri[i], rc[c])
		}
	}
	return ri, nil
}

// RepeatFactorSampler oversamples images of rare classes: each epoch, image i appears
// floor(r_i) times plus once more with probability frac(r_i) (stochastic rounding,
// as in Detectron2's RepeatFactorTrainingSampler), in shuffled order. The draw
// depends only on (Seed, epoch).
type RepeatFactorSampler struct {
	Factors []float64 // per record, from RepeatFactors
	Seed    uint64
}

// NewRepeatFactorSampler builds the sampler for ds with threshold t (≤0 means
// DefaultRepeatThreshold).
func NewRepeatFactorSampler(ds *Dataset, t float64, seed uint64) (*RepeatFactorSampler, error) {
	if t <= 0 {
		t = DefaultRepeatThreshold
	}
	f, err := RepeatFactors(ds, t)
	if err != nil {
		return nil, err
	}
	return &RepeatFactorSampler{Factors: f, Seed: seed}, nil
}

// Epoch returns the epoch's indices.
func (s *RepeatFactorSampler) Epoch(epoch int) []int {
	r := rand.New(rand.NewPCG(s.Seed^0x5eed5eed, uint64(epoch)))
	var idx []int
	for i, f := range s.Factors {
		n := int(f)
		if r.Float64() < f-float64(n) {
			n++
		}
		for ; n > 0; n-- {
			idx = append(idx, i)
		}
	}
	r.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
	return idx
}
