package serve

import (
	"context"
	"image"
)

// Tag is one label with its score, as the HTTP API returns it.
type Tag struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// Selection chooses which scores become tags: a threshold (nil: the model's own
// per-class thresholds or the engine default) and an optional top-k cut (0: all).
type Selection struct {
	Threshold *float64
	TopK      int
}

// ModelInfo describes the loaded model for GET /v1/model.
type ModelInfo struct {
	Name       string    `json:"name"`
	Path       string    `json:"path,omitempty"`
	SHA256     string    `json:"sha256,omitempty"`
	Arch       string    `json:"arch,omitempty"`
	Layout     string    `json:"layout,omitempty"`
	Source     string    `json:"source,omitempty"`
	Activation string    `json:"activation,omitempty"`
	InputSize  int       `json:"input_size,omitempty"`
	Classes    []string  `json:"classes"`
	Thresholds []float32 `json:"thresholds,omitempty"`
}

// Engine is what the server needs from a model: batched probabilities, the
// thresholds/top-k/label-rules selection, and a description. *autotag.Tagger fits it
// through a thin adapter in cmd/serve.go; tests use a fast fake.
//
// Probabilities must be safe for concurrent use: the server calls it from several
// batch workers at once.
type Engine interface {
	Probabilities(ctx context.Context, imgs []image.Image) ([][]float32, error)
	Select(probs []float32, sel Selection) []Tag
	Info() ModelInfo
}

// Closer is implemented by engines that hold resources; the server closes an engine
// that a reload replaced, once no batch is using it any more.
type Closer interface{ Close() error }
