package nn

import (
	"fmt"

	"github.com/autotag/autotag/nn/arch"
)

// Bottleneck is the 1x1 → 3x3 → 1x1 residual block of He et al. 2015 (§4.1, Fig. 5),
// with expansion 4. Downsample is the projection shortcut (1x1 conv + BN) of the first
// block of each stage, nil for the identity shortcut. Where the stride sits depends on
// the layout (see arch.NewBottleneck).
type Bottleneck struct {
	Name       string // e.g. "layer2.0"
	Conv1      *Conv2D
	BN1        *BatchNorm
	Conv2      *Conv2D
	BN2        *BatchNorm
	Conv3      *Conv2D
	BN3        *BatchNorm
	Downsample *Downsample

	spec *arch.Block // the topology the block was declared from
}

// Downsample is the projection shortcut: torchvision's downsample.0 (conv) and
// downsample.1 (batch norm).
type Downsample struct {
	Conv *Conv2D
	BN   *BatchNorm
}

// newBottleneck declares the layers of block spec (see arch.NewBottleneck).
func newBottleneck(spec *arch.Block, eps float64) *Bottleneck {
	b := &Bottleneck{Name: spec.Name, spec: spec}
	b.Conv1, b.BN1 = newConvBN(&spec.Conv1, eps)
	b.Conv2, b.BN2 = newConvBN(&spec.Conv2, eps)
	b.Conv3, b.BN3 = newConvBN(&spec.Conv3, eps)
	if spec.Down != nil {
		b.Downsample = &Downsample{}
		b.Downsample.Conv, b.Downsample.BN = newConvBN(spec.Down, eps)
	}
	return b
}

// newConvBN declares convolution c and the batch norm after it.
func newConvBN(c *arch.Conv, eps float64) (*Conv2D, *BatchNorm) {
	return newConv2D(c.Name, c.In, c.Out, c.Kernel, c.Stride, c.Pad, c.Bias), newBatchNorm(c.BN, c.Out, eps)
}

// layer returns the convolution and batch norm that spec's c names.
func (b *Bottleneck) layer(c *arch.Conv) (*Conv2D, *BatchNorm) {
	switch c.Name {
	case b.spec.Conv1.Name:
		return b.Conv1, b.BN1
	case b.spec.Conv2.Name:
		return b.Conv2, b.BN2
	case b.spec.Conv3.Name:
		return b.Conv3, b.BN3
	}
	return b.Downsample.Conv, b.Downsample.BN
}

func (b *Bottleneck) slots() []slot {
	var s []slot
	for _, l := range []struct {
		c  *Conv2D
		bn *BatchNorm
	}{{b.Conv1, b.BN1}, {b.Conv2, b.BN2}, {b.Conv3, b.BN3}} {
		s = append(s, l.c.slots()...)
		s = append(s, l.bn.slots()...)
	}
	if b.Downsample != nil {
		s = append(s, b.Downsample.Conv.slots()...)
		s = append(s, b.Downsample.BN.slots()...)
	}
	return s
}

// foldedBottleneck is a Bottleneck after Bind: three (or four) BN-folded convolutions.
type foldedBottleneck struct {
	spec                *arch.Block
	conv1, conv2, conv3 *foldedConv
	down                *foldedConv // nil for the identity shortcut
}

// conv returns the folded convolution that spec's c names.
func (f *foldedBottleneck) conv(c *arch.Conv) *foldedConv {
	switch c.Name {
	case f.spec.Conv1.Name:
		return f.conv1
	case f.spec.Conv2.Name:
		return f.conv2
	case f.spec.Conv3.Name:
		return f.conv3
	}
	return f.down
}

// fold folds each batch norm into its convolution (wino: keep Winograd weights, see foldBatchNorm).
func (b *Bottleneck) fold(wino bool) (*foldedBottleneck, error) {
	f := &foldedBottleneck{spec: b.spec}
	var err error
	if f.conv1, err = foldBatchNorm(b.Conv1, b.BN1, wino); err != nil {
		return nil, err
	}
	if f.conv2, err = foldBatchNorm(b.Conv2, b.BN2, wino); err != nil {
		return nil, err
	}
	if f.conv3, err = foldBatchNorm(b.Conv3, b.BN3, wino); err != nil {
		return nil, err
	}
	if b.Downsample != nil {
		if f.down, err = foldBatchNorm(b.Downsample.Conv, b.Downsample.BN, wino); err != nil {
			return nil, fmt.Errorf("%s.downsample: %w", b.Name, err)
		}
	}
	return f, nil
}
