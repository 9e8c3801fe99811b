// Package weights reads and writes model files: the native safetensors format with
// autotag metadata, importers (TF.js layers model, torchvision .pth, timm/HF
// safetensors), the known-checkpoint registry and downloads, the model cache, and
// ONNX export. It knows files and tensor names, not layers: which tensors a ResNet50
// holds and how its graph runs come from nn/arch, the engine-free topology nn builds from.
package weights

import (
	"github.com/autotag/autotag/data/spec"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn/arch"
)

// FormatName and FormatVersion identify native autotag model files
// (__metadata__ keys "format" and "format_version").
const (
	FormatName    = "autotag-model"
	FormatVersion = "1"
)

// Layouts of ResNet50 weights; see nn/arch for what each means.
const (
	LayoutKerasV1        = string(arch.KerasV1)
	LayoutTorchvisionV15 = string(arch.TorchvisionV15)
)

// Metadata is the __metadata__ of a native model file. Every field is stored as a
// string (safetensors metadata is string→string); structured fields as JSON.
type Metadata struct {
	Format         string            // "autotag-model"
	FormatVersion  string            // "1"
	Arch           string            // "resnet50"
	Layout         string            // LayoutKerasV1 or LayoutTorchvisionV15
	BNEps          float64           // batch-norm epsilon of the source framework
	Preprocess     spec.Preprocess   // stored as JSON
	Classes        []string          // class labels in output order, stored as JSON
	Thresholds     []float32         // optional per-class thresholds, stored as JSON
	Head           string            // "" or "linear" for fc.weight/fc.bias; "mlp:H1,H2" for an MLP head
	Activation     string            // "softmax" (single-label, e.g. ImageNet) or "sigmoid" (multi-label)
	BackboneSHA256 string            // set when the file holds only a head: sha256 of the backbone file
	Source         string            // where the weights came from (file name, URL, npm package)
	CreatedBy      string            // "autotag <version>"
	Extra          map[string]string // any other metadata keys, kept verbatim
}

// Model is a model file in memory: metadata plus float32 tensors named as in
// torchvision's ResNet50 state_dict ("conv1.weight", "layer1.0.bn1.running_var",
// "fc.bias", plus "*.bias" of convs that have one in the keras-v1 layout).
type Model struct {
	Meta    Metadata
	Tensors map[string]*tensor.Dense
}
