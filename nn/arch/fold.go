package arch

import (
	"fmt"
	"math"
)

// FoldBN folds inference-mode batch normalisation (Ioffe & Szegedy 2015, Alg. 2) into
// the convolution before it: with s = γ / √(σ² + ε) per output channel o,
//
//	W'[o] = s[o] · W[o],   b'[o] = β[o] + s[o] · (b[o] − μ[o])
//
// computed in float64 and rounded once to float32. w is the weight [out, …] flattened,
// bias the conv's bias or nil (zero); gamma, beta, mean and variance have one value per
// output channel. A non-positive or NaN σ² + ε, or mismatched lengths, is an error.
func FoldBN(w, bias, gamma, beta, mean, variance []float32, eps float64) (fw, fb []float32, err error) {
	out := len(gamma)
	if out == 0 || len(w)%out != 0 || len(beta) != out || len(mean) != out || len(variance) != out ||
		(bias != nil && len(bias) != out) {
		return nil, nil, fmt.Errorf("fold batch norm: %d weights, %d/%d/%d/%d statistics, %d biases do not fit one another",
			len(w), len(gamma), len(beta), len(mean), len(variance), len(bias))
	}
	per := len(w) / out
	fw = make([]float32, len(w))
	fb = make([]float32, out)
	for o := range out {
		v := float64(variance[o]) + eps
		if v <= 0 || math.IsNaN(v) {
			return nil, nil, fmt.Errorf("fold batch norm: running_var[%d] + eps = %g is not positive", o, v)
		}
		s := float64(gamma[o]) / math.Sqrt(v)
		for i := o * per; i < (o+1)*per; i++ {
			fw[i] = float32(float64(w[i]) * s)
		}
		b0 := 0.0
		if bias != nil {
			b0 = float64(bias[o])
		}
		fb[o] = float32(float64(beta[o]) + s*(b0-float64(mean[o])))
	}
	return fw, fb, nil
}
