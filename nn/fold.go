package nn

import (
	"fmt"

	"github.com/autotag/autotag/nn/arch"
	"github.com/autotag/autotag/nn/gemm"

	"gorgonia.org/tensor"
)

// foldedConv is a convolution with its batch norm folded in: W' and b' such that
// conv(x, W') + b' == BN(conv(x, W) + b). W' is kept only packed for the GEMM (the
// unpacked copy would cost another 100 MB); shape is the original weight tensor, which
// gives the graph's weight node its shape and type: operators built with packed set
// never read it. Everything here is shared read-only by every Runner of the model.
type foldedConv struct {
	name                string
	shape               *tensor.Dense    // the unfolded weight [out, in, k, k]: shape only
	b                   *tensor.Dense    // b' [out]
	packed              *gemm.PackedA    // W' [out, in·k·k] packed as the GEMM's left operand
	wino                *winogradWeights // W' Winograd-transformed, for 3x3/1/1 unless DisableWinograd
	in, out             int
	kernel, stride, pad int
}

// foldBatchNorm folds inference-mode batch normalisation into the convolution before
// it (arch.FoldBN) and packs the result for the GEMM; withWino also keeps the
// weights Winograd-transformed where a runner may use them.
func foldBatchNorm(c *Conv2D, bn *BatchNorm, withWino bool) (*foldedConv, error) {
	fw, fb, err := foldWeights(c, bn)
	if err != nil {
		return nil, err
	}
	out, in, k := c.Out(), c.In(), c.Kernel
	per := in * k * k
	var wino *winogradWeights
	if withWino && k == 3 && c.Stride == 1 && c.Pad == 1 && min(in, out) >= winogradMinChannels {
		wino = newWinogradWeights(fw, out, in)
	}
	name := c.Weight.Name[:len(c.Weight.Name)-len(".weight")]
	return &foldedConv{
		name:   name,
		shape:  c.Weight.Value,
		b:      tensor.New(tensor.WithShape(out), tensor.WithBacking(fb)),
		packed: gemm.PackA(false, out, per, fw, per),
		wino:   wino,
		in:     in, out: out, kernel: k, stride: c.Stride, pad: c.Pad,
	}, nil
}

// foldWeights computes W' [out·in·k·k] and b' [out] with arch.FoldBN.
func foldWeights(c *Conv2D, bn *BatchNorm) (fw, fb []float32, err error) {
	if c.Weight.Value == nil || bn.Weight.Value == nil {
		return nil, nil, fmt.Errorf("nn: fold %s: parameters are not bound", c.Weight.Name)
	}
	var bias []float32
	if c.Bias != nil {
		bias = c.Bias.Value.Float32s()
	}
	fw, fb, err = arch.FoldBN(c.Weight.Value.Float32s(), bias, bn.Weight.Value.Float32s(), bn.Bias.Value.Float32s(),
		bn.RunningMean.Value.Float32s(), bn.RunningVar.Value.Float32s(), bn.Eps)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: %s: %w", c.Weight.Name, err)
	}
	return fw, fb, nil
}
