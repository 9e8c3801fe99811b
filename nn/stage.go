package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn/arch"
)

// StageParam is a trainable tensor of a stage built by Stage: a BN-folded convolution
// weight or bias, as a graph node holding its own copy of the values.
type StageParam struct {
	Name string // e.g. "layer4.0.conv1.weight" (folded: BN is inside)
	Node *gorgonia.Node
}

// Stage builds stage (1-4: torchvision's layer1..layer4) of the bound model on g as a
// differentiable NCHW subgraph of Conv2d operators, reading x [B,C,H,W], and returns
// its output and its parameters. Batch norm is frozen, as when fine-tuning the last
// stage of a pretrained network: folded into each convolution (Ioffe & Szegedy 2015,
// Alg. 2), whose weight and bias become the trainable parameters. Their values are
// fresh copies, so an optimiser may update them without touching the model's runners.
// Compose with GlobalAvgPool and LinearNode (or any head) and gorgonia.Grad.
func (m *ResNet50) Stage(g *gorgonia.ExprGraph, x *gorgonia.Node, stage int) (*gorgonia.Node, []StageParam, error) {
	if !m.Bound() {
		return nil, nil, fmt.Errorf("nn: Stage: the model has no weights (call Bind first)")
	}
	if stage < 1 || stage > 4 {
		return nil, nil, fmt.Errorf("nn: Stage %d: want 1-4", stage)
	}
	var params []StageParam
	conv := func(in *gorgonia.Node, c *Conv2D, bn *BatchNorm, res *gorgonia.Node, relu bool) (*gorgonia.Node, error) {
		fw, fb, err := foldWeights(c, bn)
		if err != nil {
			return nil, err
		}
		name := c.Weight.Name[:len(c.Weight.Name)-len(".weight")]
		w := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithName(name+".weight"),
			gorgonia.WithValue(tensor.New(tensor.WithShape(c.Weight.Shape...), tensor.WithBacking(fw))))
		b := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithName(name+".bias"),
			gorgonia.WithValue(tensor.New(tensor.WithShape(c.Out()), tensor.WithBacking(fb))))
		params = append(params, StageParam{name + ".weight", w}, StageParam{name + ".bias", b})
		return Conv2d(in, w, b, res, c.Stride, c.Pad, relu)
	}
	y := x
	for _, blk := range m.Layers[stage-1] {
		var err error
		y, err = arch.Residual(blk.spec, y, func(x *gorgonia.Node, c *arch.Conv, res *gorgonia.Node, relu bool) (*gorgonia.Node, error) {
			conv2d, bn := blk.layer(c)
			return conv(x, conv2d, bn, res, relu)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("nn: %s: %w", blk.Name, err)
		}
	}
	return y, params, nil
}
