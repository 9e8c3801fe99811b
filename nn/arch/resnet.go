package arch

import "fmt"

// FeatureDim is the width of ResNet50's pooled features (the input of fc).
const FeatureDim = 2048

// Conv is one convolution (square kernel, zero padding, OIHW weights) and the
// inference-mode batch norm that follows it.
type Conv struct {
	Name string // torchvision prefix of its tensors, e.g. "layer2.0.conv1", "layer2.0.downsample.0"
	BN   string // its batch norm's prefix, e.g. "layer2.0.bn1", "layer2.0.downsample.1"
	In   int    // input channels
	Out  int    // output channels
	// Kernel, Stride and Pad are the square kernel size, the stride and the zero
	// padding on every side.
	Kernel, Stride, Pad int
	Bias                bool // the convolution has a Name+".bias" tensor
}

// OutSize is the spatial output size for an input of size n: ⌊(n + 2·pad − k)/stride⌋ + 1.
func (c *Conv) OutSize(n int) int { return (n+2*c.Pad-c.Kernel)/c.Stride + 1 }

// WeightShape is the shape of the Name+".weight" tensor: [out, in, k, k].
func (c *Conv) WeightShape() []int { return []int{c.Out, c.In, c.Kernel, c.Kernel} }

// Tensors lists the convolution's and its batch norm's tensors in state_dict order.
func (c *Conv) Tensors() []TensorSpec {
	ts := []TensorSpec{{c.Name + ".weight", c.WeightShape()}}
	if c.Bias {
		ts = append(ts, TensorSpec{c.Name + ".bias", []int{c.Out}})
	}
	for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
		ts = append(ts, TensorSpec{c.BN + "." + p, []int{c.Out}})
	}
	return ts
}

// Block is a bottleneck residual block (He et al. 2015, §4.1, Fig. 5): 1x1 → 3x3 → 1x1
// with expansion 4, and a projection shortcut (Down) where the block changes the
// resolution or the width, nil for the identity shortcut.
type Block struct {
	Name                string // e.g. "layer2.0"
	Conv1, Conv2, Conv3 Conv
	Down                *Conv
}

// NewBottleneck lays out block name taking in channels to 4·width at stride, with the
// stride placed as layout says and the projection shortcut where it is needed.
func NewBottleneck(name string, in, width, stride int, layout Layout) Block {
	bias := layout.ConvBias()
	s1, s2 := layout.strides(stride)
	out := 4 * width
	conv := func(conv, bn string, in, out, k, stride, pad int) Conv {
		return Conv{Name: name + "." + conv, BN: name + "." + bn, In: in, Out: out, Kernel: k, Stride: stride, Pad: pad, Bias: bias}
	}
	b := Block{
		Name:  name,
		Conv1: conv("conv1", "bn1", in, width, 1, s1, 0),
		Conv2: conv("conv2", "bn2", width, width, 3, s2, 1),
		Conv3: conv("conv3", "bn3", width, out, 1, 1, 0),
	}
	if stride != 1 || in != out {
		d := conv("downsample.0", "downsample.1", in, out, 1, stride, 0)
		b.Down = &d
	}
	return b
}

// Convs lists the block's convolutions in the order Residual visits them: the
// projection shortcut (if any), then conv1, conv2, conv3.
func (b *Block) Convs() []*Conv {
	cs := make([]*Conv, 0, 4)
	if b.Down != nil {
		cs = append(cs, b.Down)
	}
	return append(cs, &b.Conv1, &b.Conv2, &b.Conv3)
}

// OutSize is the block's spatial output size for an input of size n.
func (b *Block) OutSize(n int) int {
	if b.Down != nil {
		return b.Down.OutSize(n)
	}
	return n
}

// Tensors lists the block's tensors in state_dict order (the shortcut last).
func (b *Block) Tensors() []TensorSpec {
	var ts []TensorSpec
	for _, c := range []*Conv{&b.Conv1, &b.Conv2, &b.Conv3, b.Down} {
		if c != nil {
			ts = append(ts, c.Tensors()...)
		}
	}
	return ts
}

// Residual lays out block b for one builder, so that every builder shares its
// residual structure: y = ReLU(conv3(ReLU(conv2(ReLU(conv1(x))))) + shortcut(x)),
// shortcut the projection (no ReLU) or the identity. conv adds convolution c (batch
// norm folded or after it) reading x; residual, when not T's zero value, is added
// before the optional ReLU. The shortcut comes first, then conv1..conv3 (Convs' order).
func Residual[T comparable](b *Block, x T, conv func(x T, c *Conv, residual T, relu bool) (T, error)) (T, error) {
	var none T
	short := x
	var err error
	if b.Down != nil {
		if short, err = conv(x, b.Down, none, false); err != nil {
			return none, err
		}
	}
	y, err := conv(x, &b.Conv1, none, true)
	if err != nil {
		return none, err
	}
	if y, err = conv(y, &b.Conv2, none, true); err != nil {
		return none, err
	}
	return conv(y, &b.Conv3, short, true)
}

// Stage is one of ResNet50's four stages: torchvision's layer1..layer4, Keras' res2..res5.
type Stage struct {
	Name   string // "layer1" … "layer4"
	Out    int    // output channels
	Blocks []Block
}

// Pool is a square max-pooling window.
type Pool struct{ Kernel, Stride, Pad int }

// OutSize is the spatial output size for an input of size n.
func (p Pool) OutSize(n int) int { return (n+2*p.Pad-p.Kernel)/p.Stride + 1 }

// ResNet is a ResNet's topology: the stem (conv1 + bn1 + ReLU, then MaxPool), the
// stages of bottleneck blocks, global average pooling to FeatureDim features and the
// fully connected classifier fc.
type ResNet struct {
	Layout  Layout
	Stem    Conv
	MaxPool Pool
	Stages  []Stage
	Classes int // outputs of fc
}

// resnet50Stages are ResNet50's stages (He et al. 2015, Table 1, 50-layer column):
// blocks, bottleneck width, stride of the first block.
var resnet50Stages = [4]struct{ blocks, width, stride int }{
	{3, 64, 1}, {4, 128, 2}, {6, 256, 2}, {3, 512, 2},
}

// ResNet50 lays out the 50-layer network of He et al. 2015 in layout with classes
// outputs, under torchvision's names (torchvision/models/resnet.py).
func ResNet50(layout Layout, classes int) (*ResNet, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if classes < 1 {
		return nil, fmt.Errorf("numClasses %d < 1", classes)
	}
	r := &ResNet{
		Layout:  layout,
		Stem:    Conv{Name: "conv1", BN: "bn1", In: 3, Out: 64, Kernel: 7, Stride: 2, Pad: 3, Bias: layout.ConvBias()},
		MaxPool: Pool{Kernel: 3, Stride: 2, Pad: 1},
		Classes: classes,
	}
	in := r.Stem.Out
	for l, st := range resnet50Stages {
		s := Stage{Name: fmt.Sprintf("layer%d", l+1), Out: 4 * st.width}
		for b := range st.blocks {
			stride := 1
			if b == 0 {
				stride = st.stride
			}
			s.Blocks = append(s.Blocks, NewBottleneck(fmt.Sprintf("%s.%d", s.Name, b), in, st.width, stride, layout))
			in = s.Out
		}
		r.Stages = append(r.Stages, s)
	}
	return r, nil
}

// TensorSpec is one tensor a model file must hold: its torchvision name and shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// Tensors lists the network's tensors in torchvision's state_dict order, without
// num_batches_tracked.
func (r *ResNet) Tensors() []TensorSpec {
	ts := r.Stem.Tensors()
	for i := range r.Stages {
		for j := range r.Stages[i].Blocks {
			ts = append(ts, r.Stages[i].Blocks[j].Tensors()...)
		}
	}
	return append(ts, TensorSpec{"fc.weight", []int{r.Classes, FeatureDim}}, TensorSpec{"fc.bias", []int{r.Classes}})
}
