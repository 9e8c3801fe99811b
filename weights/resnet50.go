package weights

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn/arch"
)

// TensorSpec is one tensor a ResNet50 file must hold: its torchvision name and shape.
type TensorSpec = arch.TensorSpec

// ResNet50Tensors lists the tensors of a ResNet50 with numClasses outputs in
// torchvision's state_dict order and names (torchvision/models/resnet.py), without
// num_batches_tracked, as nn/arch lays the network out. The keras-v1 layout adds a
// bias to every convolution.
func ResNet50Tensors(layout string, numClasses int) ([]TensorSpec, error) {
	r, err := arch.ResNet50(arch.Layout(layout), numClasses)
	if err != nil {
		return nil, err
	}
	return r.Tensors(), nil
}

// kerasStages is the Keras layout's stages, which bound the block letters of Keras
// tensor names (res4f is layer3's sixth and last block).
var kerasStages = func() []arch.Stage {
	r, err := arch.ResNet50(arch.KerasV1, 1)
	if err != nil {
		panic(err) // a constant, valid layout
	}
	return r.Stages
}()

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
