package model

import (
	"context"
	"fmt"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/weights"
)

// Identity says what a model file is: its hash, its metadata with a head-only file's
// gaps filled from its backbone, and where the backbone weights live. Every caller
// that needs to know a model (to open it, to export it, or to name the backbone a
// trained head depends on) gets it here, hashed through the one hash cache.
type Identity struct {
	Path     string           // the model file
	SHA256   string           // of that file
	Meta     weights.Metadata // the file's metadata; a head-only file's empty preprocessing and source come from its backbone
	Backbone Backbone         // where the backbone weights come from
	HeadOnly bool             // the file holds only the head (backbone_sha256 set)
	Spec     data.Spec        // the preprocessing the model expects (OpenFile validates it; an exporter copies it as it is)
}

// Identify reads the identity of the model file at path from its metadata alone,
// without reading tensors or building a network; a head-only file's backbone is
// found in the cache by its sha256, as OpenFile finds it.
func Identify(path string) (*Identity, error) {
	meta, err := weights.ReadMetadata(path)
	if err != nil {
		return nil, err
	}
	id, err := newIdentity(path, meta)
	if err != nil {
		return nil, err
	}
	if id.HeadOnly {
		bbPath, err := FindBackbone(meta.BackboneSHA256)
		if err != nil {
			return nil, err
		}
		bbMeta, err := weights.ReadMetadata(bbPath)
		if err != nil {
			return nil, fmt.Errorf("reading its backbone: %w", err)
		}
		if err := id.setBackbone(bbPath, bbMeta); err != nil {
			return nil, fmt.Errorf("reading its backbone: %w", err)
		}
	}
	id.Spec = id.Meta.Preprocess
	return id, nil
}

// Weights is a model file joined with everything it needs: for a head-only file, the
// backbone tensors of the cached model it names. Tensors holds the backbone's and
// the file's classifier (fc.*) tensors together.
type Weights struct {
	Identity
	Tensors map[string]*tensor.Dense
}

// LoadWeights reads the model file at path and, for a head-only file, its backbone's
// tensors, without building a network: what OpenFile binds and what an exporter
// writes.
func LoadWeights(ctx context.Context, path string) (*Weights, error) {
	f, err := weights.Load(path)
	if err != nil {
		return nil, err
	}
	id, err := newIdentity(path, f.Meta)
	if err != nil {
		return nil, err
	}
	w := &Weights{Identity: *id, Tensors: f.Tensors}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if w.HeadOnly {
		backbone, _ := splitHead(f.Tensors)
		if len(backbone) > 0 {
			return nil, fmt.Errorf("a head-only model (backbone_sha256 set) must hold only fc.* tensors, found others")
		}
		bbPath, err := FindBackbone(f.Meta.BackboneSHA256)
		if err != nil {
			return nil, err
		}
		bb, err := weights.Load(bbPath)
		if err != nil {
			return nil, fmt.Errorf("loading its backbone: %w", err)
		}
		if err := w.setBackbone(bbPath, bb.Meta); err != nil {
			return nil, fmt.Errorf("loading its backbone: %w", err)
		}
		backbone, _ = splitHead(bb.Tensors)
		for name, d := range f.Tensors {
			backbone[name] = d
		}
		w.Tensors = backbone
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w.Spec = w.Meta.Preprocess
	return w, nil
}

// Standalone returns the joined model as one self-contained weights.Model: all its
// tensors, and metadata that names no backbone file but carries the backbone's
// layout and batch-norm epsilon (which the backbone tensors were made for) and the
// activation OpenFile scores with. This is what an exporter writes for the model.
func (w *Weights) Standalone() (*weights.Model, error) {
	meta := w.Meta
	meta.BackboneSHA256 = ""
	meta.Layout, meta.BNEps = w.Backbone.Meta.Layout, w.Backbone.Meta.BNEps
	if b, ok := w.Tensors["fc.bias"]; ok && meta.Activation == "" {
		act, err := activation(w.Meta, b.Shape().TotalSize(), w.HeadOnly)
		if err != nil {
			return nil, err
		}
		meta.Activation = act
	}
	return &weights.Model{Meta: meta, Tensors: w.Tensors}, nil
}

// newIdentity starts the identity of the file at path from its own metadata, hashing
// it through the cache and refusing architectures nn lacks.
func newIdentity(path string, meta weights.Metadata) (*Identity, error) {
	if meta.Arch != "" && meta.Arch != "resnet50" {
		return nil, fmt.Errorf("architecture %q is not supported (only resnet50)", meta.Arch)
	}
	sum, err := FileHash(path)
	if err != nil {
		return nil, err
	}
	id := &Identity{Path: path, SHA256: sum, Meta: meta, HeadOnly: meta.BackboneSHA256 != ""}
	if !id.HeadOnly {
		id.Backbone = Backbone{Path: path, SHA256: sum, Meta: meta}
		id.Backbone.Meta.Extra = nil
	}
	return id, nil
}

// setBackbone records a head-only file's backbone (at bbPath, with metadata bbMeta),
// whose preprocessing and source fill the gaps in the file's own metadata.
func (id *Identity) setBackbone(bbPath string, bbMeta weights.Metadata) error {
	if bbMeta.Arch != "" && bbMeta.Arch != "resnet50" {
		return fmt.Errorf("architecture %q is not supported (only resnet50)", bbMeta.Arch)
	}
	sum, err := FileHash(bbPath)
	if err != nil {
		return err
	}
	id.Backbone = Backbone{Path: bbPath, SHA256: sum, Meta: bbMeta}
	id.Backbone.Meta.Extra = nil
	if id.Meta.Preprocess.Crop == 0 {
		id.Meta.Preprocess = bbMeta.Preprocess
	}
	if id.Meta.Source == "" {
		id.Meta.Source = bbMeta.Source
	}
	return nil
}
