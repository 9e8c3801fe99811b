// Package tinymodel makes small, fast ResNet50 model files with random weights for
// tests: the real architecture (torchvision-v1.5 layout) run on 32×32 inputs
// (≈170 MFLOP per image), so that Open → preprocess → forward → select, head-only
// models and concurrency are exercised in seconds, under -race too. Tests only.
package tinymodel

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"

	"github.com/autotag/autotag/data/spec"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/nn/arch"
	"github.com/autotag/autotag/weights"
)

var backbone struct {
	once    sync.Once
	tensors map[string]*tensor.Dense
	err     error
}

// Spec is the preprocessing of tiny models: torchvision's, at 36 → crop 32.
func Spec() data.Spec {
	s := spec.Torchvision()
	s.Resize, s.Crop = 36, 32
	return s
}

// Tensors returns He-initialised (halved, as there is no real batch norm to tame the
// residual growth) torchvision-layout ResNet50 tensors, batch norm as identity, with a
// random classes-wide fc. The backbone tensors are shared between calls: read-only.
func Tensors(classes int) (map[string]*tensor.Dense, error) {
	backbone.once.Do(func() {
		specs, err := weights.ResNet50Tensors(weights.LayoutTorchvisionV15, 1)
		if err != nil {
			backbone.err = err
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		ts := map[string]*tensor.Dense{}
		for _, s := range specs {
			if strings.HasPrefix(s.Name, "fc.") {
				continue
			}
			n := 1
			for _, d := range s.Shape {
				n *= d
			}
			v := make([]float32, n)
			switch {
			case strings.HasSuffix(s.Name, "running_var"), strings.HasSuffix(s.Name, ".weight") && len(s.Shape) == 1:
				for i := range v {
					v[i] = 1
				}
			case len(s.Shape) == 4:
				std := 0.5 * math.Sqrt(2/float64(s.Shape[1]*s.Shape[2]*s.Shape[3]))
				for i := range v {
					v[i] = float32(rng.NormFloat64() * std)
				}
			}
			ts[s.Name] = tensor.New(tensor.WithShape(s.Shape...), tensor.WithBacking(v))
		}
		backbone.tensors = ts
	})
	if backbone.err != nil {
		return nil, backbone.err
	}
	out := map[string]*tensor.Dense{}
	for k, v := range backbone.tensors {
		out[k] = v
	}
	out["fc.weight"], out["fc.bias"] = Linear(classes, arch.FeatureDim, 7)
	return out, nil
}

// Linear returns a torch.nn.Linear-shaped random weight [out,in] and bias [out].
func Linear(out, in int, seed uint64) (*tensor.Dense, *tensor.Dense) {
	rng := rand.New(rand.NewPCG(seed, 3))
	w := make([]float32, out*in)
	b := make([]float32, out)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64() * 0.1)
	}
	return tensor.New(tensor.WithShape(out, in), tensor.WithBacking(w)), tensor.New(tensor.WithShape(out), tensor.WithBacking(b))
}

// Save writes a model file with ts; empty metadata fields get the tiny defaults
// (resnet50, torchvision-v1.5, bn_eps 1e-5, Spec).
func Save(path string, meta weights.Metadata, ts map[string]*tensor.Dense) error {
	if meta.Arch == "" {
		meta.Arch = "resnet50"
	}
	if meta.Layout == "" {
		meta.Layout, meta.BNEps = weights.LayoutTorchvisionV15, 1e-5
	}
	if meta.Preprocess == (data.Spec{}) {
		meta.Preprocess = Spec()
	}
	return weights.Save(path, &weights.Model{Meta: meta, Tensors: ts})
}

// Write saves a full tiny model with the given classes and activation at path.
func Write(path string, classes []string, activation string) error {
	ts, err := Tensors(len(classes))
	if err != nil {
		return err
	}
	return Save(path, weights.Metadata{Classes: classes, Activation: activation, Source: "random test weights"}, ts)
}

// Poison overwrites element index of the float32 tensor name in the safetensors
// file at path with v, in place. weights.Save refuses non-finite values, so this is
// how tests make the corrupt or diverged model files the loaders must refuse.
func Poison(path, name string, index int, v float32) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) < 8 {
		return fmt.Errorf("poison %s: not a safetensors file", path)
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return fmt.Errorf("poison %s: header length %d past the end", path, n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		return fmt.Errorf("poison %s: %w", path, err)
	}
	var e struct {
		Dtype       string   `json:"dtype"`
		DataOffsets []uint64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(hdr[name], &e); err != nil || e.Dtype != "F32" || len(e.DataOffsets) != 2 {
		return fmt.Errorf("poison %s: no F32 tensor %q", path, name)
	}
	off := 8 + n + e.DataOffsets[0] + 4*uint64(index)
	if index < 0 || off+4 > 8+n+e.DataOffsets[1] {
		return fmt.Errorf("poison %s: index %d outside %q", path, index, name)
	}
	binary.LittleEndian.PutUint32(b[off:], math.Float32bits(v))
	return os.WriteFile(path, b, 0o644)
}
