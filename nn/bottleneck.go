package nn

import "fmt"

// Bottleneck is the 1x1 → 3x3 → 1x1 residual block of He et al. 2015 (§4.1, Fig. 5),
// with expansion 4. Downsample is the projection shortcut (1x1 conv + BN) of the first
// block of each stage, nil for the identity shortcut. Where the stride sits depends on
// the layout: on Conv1 for KerasV1, on Conv2 for TorchvisionV15 (both on Downsample).
type Bottleneck struct {
	Name       string // e.g. "layer2.0"
	Conv1      *Conv2D
	BN1        *BatchNorm
	Conv2      *Conv2D
	BN2        *BatchNorm
	Conv3      *Conv2D
	BN3        *BatchNorm
	Downsample *Downsample
}

// Downsample is the projection shortcut: torchvision's downsample.0 (conv) and
// downsample.1 (batch norm).
type Downsample struct {
	Conv *Conv2D
	BN   *BatchNorm
}

// newBottleneck declares block name (e.g. "layer2.0") taking in channels to 4·width.
func newBottleneck(name string, in, width, stride int, cfg Config) *Bottleneck {
	bias := cfg.Layout.ConvBias()
	s1, s2 := 1, stride
	if cfg.Layout == KerasV1 {
		s1, s2 = stride, 1
	}
	out := 4 * width
	b := &Bottleneck{
		Name:  name,
		Conv1: newConv2D(name+".conv1", in, width, 1, s1, 0, bias),
		BN1:   newBatchNorm(name+".bn1", width, cfg.BNEps),
		Conv2: newConv2D(name+".conv2", width, width, 3, s2, 1, bias),
		BN2:   newBatchNorm(name+".bn2", width, cfg.BNEps),
		Conv3: newConv2D(name+".conv3", width, out, 1, 1, 0, bias),
		BN3:   newBatchNorm(name+".bn3", out, cfg.BNEps),
	}
	if stride != 1 || in != out {
		b.Downsample = &Downsample{
			Conv: newConv2D(name+".downsample.0", in, out, 1, stride, 0, bias),
			BN:   newBatchNorm(name+".downsample.1", out, cfg.BNEps),
		}
	}
	return b
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
	name                string
	conv1, conv2, conv3 *foldedConv
	down                *foldedConv // nil for the identity shortcut
}

// fold folds each batch norm into its convolution (wino: keep Winograd weights, see foldBatchNorm).
func (b *Bottleneck) fold(wino bool) (*foldedBottleneck, error) {
	f := &foldedBottleneck{name: b.Name}
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
