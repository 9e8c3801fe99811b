package nn

import (
	"fmt"
	"math"

	"github.com/autotag/autotag/nn/gemm"

	"gorgonia.org/tensor"
)

// foldedConv is a convolution with its batch norm folded in: W' and b' such that
// conv(x, W') + b' == BN(conv(x, W) + b). The tensors are shared read-only by every
// Runner built from the same model.
type foldedConv struct {
	name                string
	w                   *tensor.Dense // [out, in, k, k]
	b                   *tensor.Dense // [out]
	packed              *gemm.PackedA // w as the GEMM's packed left operand, made once
	in, out             int
	kernel, stride, pad int
}

// foldBatchNorm folds inference-mode batch normalisation (Ioffe & Szegedy 2015, Alg. 2)
// into the convolution before it: with s = γ / sqrt(σ² + ε),
//
//	W'[o] = s[o] · W[o],   b'[o] = β[o] + s[o] · (b[o] − μ[o])
//
// computed in float64 and rounded once to float32. A missing conv bias counts as zero.
func foldBatchNorm(c *Conv2D, bn *BatchNorm) (*foldedConv, error) {
	out, in, k := c.Out(), c.In(), c.Kernel
	if c.Weight.Value == nil || bn.Weight.Value == nil {
		return nil, fmt.Errorf("nn: fold %s: parameters are not bound", c.Weight.Name)
	}
	w := c.Weight.Value.Float32s()
	gamma, beta := bn.Weight.Value.Float32s(), bn.Bias.Value.Float32s()
	mean, variance := bn.RunningMean.Value.Float32s(), bn.RunningVar.Value.Float32s()
	var bias []float32
	if c.Bias != nil {
		bias = c.Bias.Value.Float32s()
	}
	fw := make([]float32, len(w))
	fb := make([]float32, out)
	per := in * k * k
	for o := 0; o < out; o++ {
		v := float64(variance[o]) + bn.Eps
		if v <= 0 || math.IsNaN(v) {
			return nil, fmt.Errorf("nn: fold %s: running_var[%d] + eps = %g is not positive", bn.RunningVar.Name, o, v)
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
	name := c.Weight.Name[:len(c.Weight.Name)-len(".weight")]
	return &foldedConv{
		name: name,
		w:    tensor.New(tensor.WithShape(out, in, k, k), tensor.WithBacking(fw)),
		b:    tensor.New(tensor.WithShape(out), tensor.WithBacking(fb)),
		in:   in, out: out, kernel: k, stride: c.Stride, pad: c.Pad,
	}, nil
}
