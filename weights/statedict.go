package weights

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/autotag/autotag/data/spec"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn/arch"
)

// importOptions describe where a state_dict came from, for its metadata. Zero
// fields take the defaults of the detected layout.
type importOptions struct {
	Source     string
	Preprocess *spec.Preprocess
	Classes    []string
}

// stateDictToModel turns a torchvision-named ResNet50 state_dict (torchvision .pth,
// timm or Hugging Face safetensors) into a Model: num_batches_tracked dropped, a
// DataParallel "module." prefix stripped, floats converted to float32, and the
// tensor set checked strictly. Hugging Face transformers ResNet names are renamed
// first. A state_dict with conv biases is keras-v1 (as
// written by autotag), otherwise torchvision-v1.5 (eps 1e-5, torchvision
// preprocessing, ImageNet classes for a 1000-class head).
func stateDictToModel(ts map[string]*tensor.Dense, opt importOptions) (*Model, error) {
	ts, _, err := renameHuggingFace(ts)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*tensor.Dense, len(ts))
	prefix := commonModulePrefix(ts)
	for name, d := range ts {
		name = strings.TrimPrefix(name, prefix)
		if strings.HasSuffix(name, "num_batches_tracked") {
			continue
		}
		if d.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("tensor %q is %v, want a floating-point type", name, d.Dtype())
		}
		out[name] = d
	}
	if err := checkFinite(out); err != nil {
		return nil, err
	}
	fcb, ok := out["fc.bias"]
	if !ok {
		return nil, fmt.Errorf("no fc.bias: not a torchvision-style ResNet50 state_dict (have %s)", abbreviate(sortedNames(out)))
	}
	numClasses := fcb.Shape().TotalSize()
	layout := LayoutTorchvisionV15
	if _, ok := out["conv1.bias"]; ok {
		layout = LayoutKerasV1
	}
	if err := CheckResNet50(out, layout, numClasses); err != nil {
		return nil, err
	}
	meta := Metadata{
		Format: FormatName, FormatVersion: FormatVersion, Arch: "resnet50", Layout: layout,
		BNEps: arch.Layout(layout).DefaultBNEps(), Preprocess: spec.Torchvision(), Activation: "softmax",
		Source: opt.Source, CreatedBy: createdBy(), Classes: opt.Classes,
	}
	if layout == LayoutKerasV1 {
		meta.Preprocess = spec.Caffe()
	}
	if opt.Preprocess != nil {
		meta.Preprocess = *opt.Preprocess
	}
	if meta.Classes == nil {
		if numClasses == 1000 {
			meta.Classes = ImageNetClasses()
		} else {
			meta.Classes = make([]string, numClasses)
			for i := range meta.Classes {
				meta.Classes[i] = fmt.Sprintf("class_%d", i)
			}
		}
	}
	if len(meta.Classes) != numClasses {
		return nil, fmt.Errorf("%d class names for %d outputs", len(meta.Classes), numClasses)
	}
	return &Model{Meta: meta, Tensors: out}, nil
}

// commonModulePrefix is "module." when every name carries it (a state_dict saved
// from nn.DataParallel), else "".
func commonModulePrefix(ts map[string]*tensor.Dense) string {
	for name := range ts {
		if !strings.HasPrefix(name, "module.") {
			return ""
		}
	}
	return "module."
}

func sortedNames(ts map[string]*tensor.Dense) []string {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// importPyTorch converts a torchvision ResNet50 .pth.
func importPyTorch(ctx context.Context, src string, opt importOptions) (*Model, error) {
	ts, err := ReadPyTorch(src)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opt.Source == "" {
		opt.Source = filepath.Base(src)
	}
	return stateDictToModel(ts, opt)
}

// importSafetensors converts a timm / Hugging Face ResNet50 safetensors file (timm's
// resnet50 uses torchvision's names), or re-imports an autotag file as is.
func importSafetensors(ctx context.Context, src string, opt importOptions) (*Model, error) {
	ts, meta, err := ReadSafetensors(src)
	if err != nil {
		return nil, err
	}
	if meta["format"] == FormatName {
		m, err := Load(src)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opt.Source == "" {
		opt.Source = filepath.Base(src)
	}
	return stateDictToModel(ts, opt)
}
