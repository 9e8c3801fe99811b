package weights

import (
	"fmt"
	"regexp"
	"strings"

	"gorgonia.org/tensor"
)

// Hugging Face transformers' ResNet (e.g. microsoft/resnet-50,
// transformers/models/resnet/modeling_resnet.py) names the same network
// differently: resnet.embedder.embedder.{convolution,normalization},
// resnet.encoder.stages.S.layers.B.{shortcut,layer.I}.{convolution,normalization},
// classifier.1. With the default downsample_in_bottleneck=False the stride sits on
// the 3x3 conv, i.e. torchvision's v1.5 layout, so a rename is all it takes.

var hfStageName = regexp.MustCompile(`^resnet\.encoder\.stages\.(\d)\.layers\.(\d+)\.(shortcut|layer\.(\d))\.(convolution|normalization)\.(.+)$`)

// hfToTorchvision maps one transformers ResNet name to torchvision's, or reports
// false.
func hfToTorchvision(name string) (string, bool) {
	if rest, ok := strings.CutPrefix(name, "resnet.embedder.embedder."); ok {
		if p, ok := strings.CutPrefix(rest, "convolution."); ok {
			return "conv1." + p, true
		}
		if p, ok := strings.CutPrefix(rest, "normalization."); ok {
			return "bn1." + p, true
		}
		return "", false
	}
	if p, ok := strings.CutPrefix(name, "classifier.1."); ok {
		return "fc." + p, true
	}
	m := hfStageName.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	prefix := fmt.Sprintf("layer%d.%s.", int(m[1][0]-'0')+1, m[2])
	conv := m[5] == "convolution"
	if m[3] == "shortcut" {
		if conv {
			return prefix + "downsample.0." + m[6], true
		}
		return prefix + "downsample.1." + m[6], true
	}
	i := int(m[4][0]-'0') + 1
	if conv {
		return fmt.Sprintf("%sconv%d.%s", prefix, i, m[6]), true
	}
	return fmt.Sprintf("%sbn%d.%s", prefix, i, m[6]), true
}

// renameHuggingFace converts a transformers ResNet state_dict to torchvision names
// when it is one (detected by its embedder), else returns ts unchanged. A name it
// cannot map is an error naming it.
func renameHuggingFace(ts map[string]*tensor.Dense) (map[string]*tensor.Dense, bool, error) {
	if _, ok := ts["resnet.embedder.embedder.convolution.weight"]; !ok {
		return ts, false, nil
	}
	out := make(map[string]*tensor.Dense, len(ts))
	for name, d := range ts {
		tv, ok := hfToTorchvision(name)
		if !ok {
			return nil, true, fmt.Errorf("Hugging Face ResNet tensor %q has no torchvision counterpart", name)
		}
		out[tv] = d
	}
	return out, true, nil
}
