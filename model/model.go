// Package model owns "a model": it resolves a model file or cached name, reads its
// metadata and preprocessing, joins a head-only file with its backbone (found in the
// cache by sha256), builds the nn ResNet50 for the backbone's layout, binds and folds
// its weights, attaches the classifier head and hands out runners. The library
// (package autotag), training's feature extraction, eval and bench all open models
// here, and export and --from-features identify or load them here (Identify,
// LoadWeights), so they cannot disagree on what a file means or on how it scores.
package model

import (
	"context"
	"fmt"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/weights"
)

// Backbone identifies the file that holds a model's backbone weights: the model file
// itself, or for a head-only file the cached model it names.
type Backbone struct {
	Path   string
	SHA256 string           // of the file at Path
	Meta   weights.Metadata // that file's own metadata (Extra dropped)
}

// Model is an opened model: a bound, folded ResNet50 backbone whose graph ends in a
// placeholder classifier, and the Head that turns its pooled features into scores.
// Its fields are read-only once Open returns; runners made from it may run
// concurrently, one goroutine per runner.
type Model struct {
	Identity
	Classes    []string     // labels in output order ("class_N" when the file lists none)
	Activation string       // "softmax" or "sigmoid"
	Net        *nn.ResNet50 // bound and folded
	Head       *Head
}

// Options say what to open of a model.
type Options struct {
	// FeaturesOnly opens the backbone for its pooled features alone, as feature
	// extraction and benchmarks need: whatever classifier the file holds (none, an
	// ImageNet fc, a trained head) is ignored, so Head is nil and Classes and
	// Activation are empty.
	FeaturesOnly bool
	// Engine chooses the network's kernels (nn.Engine; the zero value has every
	// optimisation on). Runners made by WithEngine views share the bound weights.
	Engine nn.Engine
}

// Open resolves nameOrPath (a model file, or a cached name; "" is the default model,
// see weights.Resolve) and opens it with OpenFile.
func Open(ctx context.Context, nameOrPath string, o Options) (*Model, error) {
	path, err := weights.Resolve(nameOrPath)
	if err != nil {
		return nil, err
	}
	m, err := OpenFile(ctx, path, o)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return m, nil
}

// OpenFile opens the model file at path, its network bound with o.Engine.
func OpenFile(ctx context.Context, path string, o Options) (*Model, error) {
	w, err := LoadWeights(ctx, path)
	if err != nil {
		return nil, err
	}
	m := &Model{Identity: w.Identity}
	if err := m.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("preprocessing in the model metadata: %w", err)
	}
	backbone, head := splitHead(w.Tensors)
	if !o.FeaturesOnly {
		if err := m.attachHead(head); err != nil {
			return nil, err
		}
	}
	if m.Net, err = bindBackbone(m.Backbone.Meta, backbone, o.Engine); err != nil {
		return nil, err
	}
	return m, nil
}

// attachHead builds the Head from the classifier tensors and checks the labels,
// thresholds and activation the metadata gives against it.
func (m *Model) attachHead(head map[string]*tensor.Dense) error {
	var err error
	if m.Head, err = NewHead(head, nn.FeatureDim); err != nil {
		return err
	}
	if m.Classes, err = labels(m.Meta, m.Head.Classes()); err != nil {
		return err
	}
	m.Activation, err = activation(m.Meta, m.Head.Classes(), m.HeadOnly)
	return err
}

// splitHead separates the classifier tensors (fc.*) from the backbone's.
func splitHead(ts map[string]*tensor.Dense) (backbone, head map[string]*tensor.Dense) {
	backbone, head = map[string]*tensor.Dense{}, map[string]*tensor.Dense{}
	for name, d := range ts {
		if IsHeadTensor(name) {
			head[name] = d
		} else {
			backbone[name] = d
		}
	}
	return backbone, head
}

// bindBackbone builds nn's ResNet50 for meta's layout and binds the backbone tensors.
// The classifier runs as the Head on the pooled features; nn binds a classifier
// strictly, so the graph gets a 1-wide zero placeholder in its place.
func bindBackbone(meta weights.Metadata, backbone map[string]*tensor.Dense, e nn.Engine) (*nn.ResNet50, error) {
	ts := make(map[string]*tensor.Dense, len(backbone)+2)
	for name, d := range backbone {
		ts[name] = d
	}
	ts["fc.weight"] = tensor.New(tensor.WithShape(1, nn.FeatureDim), tensor.WithBacking(make([]float32, nn.FeatureDim)))
	ts["fc.bias"] = tensor.New(tensor.WithShape(1), tensor.WithBacking(make([]float32, 1)))
	net := nn.NewResNet50(nn.Config{Layout: nn.Layout(meta.Layout), BNEps: meta.BNEps, NumClasses: 1, Engine: e})
	if err := net.Bind(ts); err != nil {
		return nil, err
	}
	return net, nil
}

// labels returns the metadata's class names, checked against the head's width, or
// class_0, class_1, … when it lists none; it also checks the thresholds' count.
func labels(meta weights.Metadata, classes int) ([]string, error) {
	out := meta.Classes
	if len(out) == 0 {
		out = make([]string, classes)
		for i := range out {
			out[i] = fmt.Sprintf("class_%d", i)
		}
	}
	if len(out) != classes {
		return nil, fmt.Errorf("metadata lists %d classes but the classifier has %d outputs", len(out), classes)
	}
	if len(meta.Thresholds) != 0 && len(meta.Thresholds) != classes {
		return nil, fmt.Errorf("metadata lists %d thresholds for %d classes", len(meta.Thresholds), classes)
	}
	return out, nil
}

// activation is the metadata's activation, or by default softmax for a full
// 1000-class (ImageNet) model and sigmoid for everything else.
func activation(meta weights.Metadata, classes int, headOnly bool) (string, error) {
	act := meta.Activation
	if act == "" {
		act = "sigmoid"
		if classes == 1000 && !headOnly {
			act = "softmax"
		}
	}
	if act != "softmax" && act != "sigmoid" {
		return "", fmt.Errorf("activation %q: want softmax or sigmoid", act)
	}
	return act, nil
}

// NewRunner compiles the backbone for batch images at the model's input size.
func (m *Model) NewRunner(batch int) (*nn.Runner, error) {
	return m.Net.NewRunner(batch, m.Spec.Crop, m.Spec.Crop)
}

// NewPool starts threads single-threaded batch-1 runners at the model's input size
// that NewPooledRunner's runners share (see nn.Pool).
func (m *Model) NewPool(threads int) (*nn.Pool, error) {
	return m.Net.NewPool(threads, m.Spec.Crop, m.Spec.Crop)
}

// NewPooledRunner returns a runner for batch images that splits each batch between
// p's threads.
func (m *Model) NewPooledRunner(batch int, p *nn.Pool) *nn.Runner {
	return m.Net.NewPooledRunner(batch, p)
}

// Scores maps pooled features [n, nn.FeatureDim] (a runner's first output) to fresh
// probabilities [n, len(Classes)]: the head, then the model's activation. Every
// caller that scores images (tag, serve, eval) goes through it.
func (m *Model) Scores(features []float32, n int) []float32 {
	p := m.Head.Forward(features, n)
	if m.Activation == "softmax" {
		nn.Softmax(p, len(m.Classes))
	} else {
		nn.Sigmoid(p, len(m.Classes))
	}
	return p
}
