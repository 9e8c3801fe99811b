package train

import (
	"math"
)

// AdamW is Adam (Kingma & Ba 2015) with decoupled weight decay (Loshchilov & Hutter
// 2019, "Decoupled Weight Decay Regularization"), step for step the update of
// torch.optim.AdamW:
//
//	w ← w·(1 − lr·wd)                     (decay applied to weights, not to biases)
//	m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//	w ← w − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)
//
// Implemented here because Gorgonia v0.9.18's AdamW solver never updates weights
// (DESIGN.md §3). Its whole state (t, m, v) is plain slices, so a checkpoint can
// save and restore it bit for bit.
type AdamW struct {
	Beta1, Beta2, Eps float64
	WeightDecay       float64
	T                 int         // steps taken
	M, V              [][]float32 // one pair per parameter slice
}

// NewAdamW returns the optimizer for parameters of the given sizes, with PyTorch's
// defaults β1 = 0.9, β2 = 0.999, ε = 1e-8.
func NewAdamW(sizes []int, weightDecay float64) *AdamW {
	a := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
	for _, n := range sizes {
		a.M = append(a.M, make([]float32, n))
		a.V = append(a.V, make([]float32, n))
	}
	return a
}

// Step applies one update with learning rate lr to params given their grads; decay[i]
// says whether params[i] is decayed (weights yes, biases no).
func (a *AdamW) Step(lr float64, params, grads [][]float32, decay []bool) {
	a.T++
	bc1 := 1 - math.Pow(a.Beta1, float64(a.T))
	bc2 := 1 - math.Pow(a.Beta2, float64(a.T))
	stepSize := float32(lr / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	b1, b2, eps := float32(a.Beta1), float32(a.Beta2), float32(a.Eps)
	shrink := float32(1 - lr*a.WeightDecay)
	for i, p := range params {
		g, m, v := grads[i], a.M[i], a.V[i]
		if decay[i] && a.WeightDecay != 0 {
			for j := range p {
				p[j] *= shrink
			}
		}
		for j := range p {
			m[j] = b1*m[j] + (1-b1)*g[j]
			v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
			denom := float32(math.Sqrt(float64(v[j])))/sqrtBC2 + eps
			p[j] -= stepSize * m[j] / denom
		}
	}
}

// CosineSchedule is a learning rate with linear warm-up then cosine decay to Min
// (Loshchilov & Hutter 2017, SGDR, without restarts; Goyal et al. 2017 warm-up).
type CosineSchedule struct {
	Base, Min float64
	Warmup    int // steps of linear warm-up from Base/Warmup to Base
	Total     int // total steps
}

// At returns the learning rate of step (0-based).
func (s CosineSchedule) At(step int) float64 {
	if s.Warmup > 0 && step < s.Warmup {
		return s.Base * float64(step+1) / float64(s.Warmup)
	}
	span := s.Total - s.Warmup
	if span <= 0 {
		return s.Base
	}
	frac := math.Min(1, float64(step-s.Warmup)/float64(span))
	return s.Min + (s.Base-s.Min)*0.5*(1+math.Cos(math.Pi*frac))
}
