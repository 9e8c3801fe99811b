package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/autotag/autotag/model"
)

// EvalOptions configures EvalModel.
type EvalOptions struct {
	CacheDir      string
	BackboneBatch int
	// Threshold, when > 0, replaces the model's per-class thresholds.
	Threshold float32
	Progress  io.Writer
	Log       *slog.Logger
}

// EvalResult is an evaluation of a trained model file on a dataset.
type EvalResult struct {
	Model    string       `json:"model"`
	Data     string       `json:"data"`
	Head     string       `json:"head"`
	Report   *Report      `json:"report"`
	AtHalf   *Report      `json:"report_at_0.5"` // every class at threshold 0.5
	History  []EpochStats `json:"history,omitempty"`
	Seconds  float64      `json:"seconds"`
	probs, y []float32
}

// Probabilities returns the per-class probabilities and labels evaluated.
func (e *EvalResult) Probabilities() (probs, labels []float32) { return e.probs, e.y }

// EvalModel evaluates a model file written by `autotag train` (head-only or bundled)
// on a dataset SPEC, using the model's own preprocessing and thresholds. It opens the
// model as tag does (model.OpenFile) and scores through the same Model.Scores, so
// eval measures exactly the probabilities tag and serve give.
func EvalModel(ctx context.Context, modelPath, spec string, o EvalOptions) (*EvalResult, error) {
	start := time.Now()
	m, err := model.OpenFile(ctx, modelPath, model.Options{})
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", modelPath, err)
	}
	meta := m.Meta
	if m.Activation != "sigmoid" {
		return nil, fmt.Errorf("train: %s has activation %q; eval measures multi-label (sigmoid) models written by autotag train", modelPath, m.Activation)
	}
	hs, err := ParseHead(meta.Head)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", modelPath, err)
	}
	ds, err := LoadDatasets([]string{spec}, o.Log)
	if err != nil {
		return nil, err
	}
	if len(ds.Classes) != len(m.Classes) {
		return nil, fmt.Errorf("train: dataset %s has %d classes, the model %d", spec, len(ds.Classes), len(m.Classes))
	}
	for i := range ds.Classes {
		if ds.Classes[i] != m.Classes[i] {
			return nil, fmt.Errorf("train: class %d is %q in the dataset but %q in the model", i, ds.Classes[i], m.Classes[i])
		}
	}
	bb, err := newBackbone(m, max(1, o.BackboneBatch))
	if err != nil {
		return nil, err
	}
	defer bb.Close()
	// The model's own preprocessing: the evaluation transform, or the squash of the
	// original recipe when the model was trained that way (the view mode applies it,
	// so the feature cache key stays the one training used).
	mode := ViewsEval
	if m.Spec.Squash {
		mode = ViewsSquash
		bb.Meta.Preprocess.Squash = false
	}
	f, _, err := ExtractFeatures(ctx, bb, ds, ExtractOptions{CacheDir: o.CacheDir, Views: 1, Mode: mode, Progress: o.Progress, Log: o.Log})
	if err != nil {
		return nil, err
	}
	probs := m.Scores(f.X, f.N)
	th := meta.Thresholds
	if o.Threshold > 0 {
		th = make([]float32, len(m.Classes))
		for i := range th {
			th[i] = o.Threshold
		}
	}
	// Two reports: at the model's calibrated thresholds, and at 0.5 for every class
	// (the usual convention when comparing with published numbers).
	res := &EvalResult{Model: modelPath, Data: spec, Head: hs.String(), probs: probs, y: f.Y}
	if res.Report, err = Evaluate(probs, f.Y, m.Classes, th); err != nil {
		return nil, err
	}
	if res.AtHalf, err = Evaluate(probs, f.Y, m.Classes, nil); err != nil {
		return nil, err
	}
	if h := meta.Extra[MetaTrainHistory]; h != "" {
		// The history is a note beside the evaluation: one that does not decode is
		// left out whole (never half-filled), and the evaluation stands.
		var hist []EpochStats
		if err := json.Unmarshal([]byte(h), &hist); err == nil {
			res.History = hist
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
