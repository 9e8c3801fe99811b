package nn

import (
	"fmt"

	"github.com/autotag/autotag/nn/arch"
)

// Layout names one of the two ResNet50 v1 variants whose pretrained weights we load;
// arch.Layout says where each puts a stage's stride and whether convolutions have a bias.
type Layout = arch.Layout

const (
	// KerasV1 is the original ResNet50 as shipped by Keras (see arch.KerasV1).
	KerasV1 = arch.KerasV1
	// TorchvisionV15 is torchvision's "ResNet v1.5" (see arch.TorchvisionV15).
	TorchvisionV15 = arch.TorchvisionV15
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
	if err := c.Layout.Validate(); err != nil {
		return fmt.Errorf("nn: %w", err)
	}
	if c.BNEps < 0 || c.NumClasses < 0 {
		return fmt.Errorf("nn: invalid config %+v", c)
	}
	return nil
}
