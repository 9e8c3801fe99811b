package weights

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gorgonia.org/tensor"
)

// TensorSpec is one tensor a ResNet50 file must hold: its torchvision name and shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// resnet50Blocks is the number of bottleneck blocks in layer1..layer4 (He et al.
// 2015, "Deep Residual Learning for Image Recognition", Table 1, 50-layer column).
var resnet50Blocks = [4]int{3, 4, 6, 3}

// ResNet50Tensors lists the tensors of a ResNet50 with numClasses outputs in
// torchvision's state_dict order and names (torchvision/models/resnet.py), without
// num_batches_tracked. The keras-v1 layout adds a bias to every convolution.
func ResNet50Tensors(layout string, numClasses int) ([]TensorSpec, error) {
	var convBias bool
	switch layout {
	case LayoutKerasV1:
		convBias = true
	case LayoutTorchvisionV15:
	default:
		return nil, fmt.Errorf("unknown layout %q (want %q or %q)", layout, LayoutKerasV1, LayoutTorchvisionV15)
	}
	if numClasses < 1 {
		return nil, fmt.Errorf("numClasses %d < 1", numClasses)
	}
	var out []TensorSpec
	conv := func(name string, o, i, k int) {
		out = append(out, TensorSpec{name + ".weight", []int{o, i, k, k}})
		if convBias {
			out = append(out, TensorSpec{name + ".bias", []int{o}})
		}
	}
	bn := func(name string, c int) {
		for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
			out = append(out, TensorSpec{name + "." + p, []int{c}})
		}
	}
	conv("conv1", 64, 3, 7)
	bn("bn1", 64)
	in := 64
	for l, blocks := range resnet50Blocks {
		w := 64 << l
		for b := range blocks {
			p := fmt.Sprintf("layer%d.%d.", l+1, b)
			conv(p+"conv1", w, in, 1)
			bn(p+"bn1", w)
			conv(p+"conv2", w, w, 3)
			bn(p+"bn2", w)
			conv(p+"conv3", 4*w, w, 1)
			bn(p+"bn3", 4*w)
			if b == 0 {
				conv(p+"downsample.0", 4*w, in, 1)
				bn(p+"downsample.1", 4*w)
			}
			in = 4 * w
		}
	}
	out = append(out, TensorSpec{"fc.weight", []int{numClasses, 2048}}, TensorSpec{"fc.bias", []int{numClasses}})
	return out, nil
}

// CheckResNet50 checks that ts holds exactly the float32 tensors of a ResNet50 in
// layout with numClasses outputs. The error names every missing, extra and
// wrong-shaped tensor.
func CheckResNet50(ts map[string]*tensor.Dense, layout string, numClasses int) error {
	want, err := ResNet50Tensors(layout, numClasses)
	if err != nil {
		return err
	}
	var missing, wrong []string
	seen := map[string]bool{}
	for _, s := range want {
		seen[s.Name] = true
		d, ok := ts[s.Name]
		switch {
		case !ok:
			missing = append(missing, s.Name)
		case !slices.Equal([]int(d.Shape()), s.Shape):
			wrong = append(wrong, fmt.Sprintf("%s %v (want %v)", s.Name, d.Shape(), s.Shape))
		case d.Dtype() != tensor.Float32:
			wrong = append(wrong, fmt.Sprintf("%s is %v (want float32)", s.Name, d.Dtype()))
		}
	}
	var extra []string
	for name := range ts {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing: %s", len(missing), abbreviate(missing)))
	}
	if len(extra) > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected: %s", len(extra), abbreviate(extra)))
	}
	if len(wrong) > 0 {
		parts = append(parts, fmt.Sprintf("%d wrong: %s", len(wrong), abbreviate(wrong)))
	}
	if len(parts) > 0 {
		return fmt.Errorf("not a %s ResNet50 with %d classes: %s", layout, numClasses, strings.Join(parts, "; "))
	}
	return nil
}

// abbreviate joins names, eliding the middle of very long lists.
func abbreviate(names []string) string {
	if len(names) > 12 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(", … (%d more)", len(names)-10)
	}
	return strings.Join(names, ", ")
}
