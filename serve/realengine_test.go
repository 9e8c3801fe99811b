package serve

import (
	"context"
	"image"
	"testing"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/internal/testenv"
)

// taggerEngine adapts *autotag.Tagger to Engine for the tests that run the real
// model (cmd/serve.go has the same adapter for the binary).
type taggerEngine struct{ t *autotag.Tagger }

func (e taggerEngine) Probabilities(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	return e.t.Probabilities(ctx, imgs)
}

func (e taggerEngine) Select(probs []float32, sel Selection) []Tag {
	tags := e.t.Select(probs, autotag.Selection{Threshold: sel.Threshold, TopK: sel.TopK})
	out := make([]Tag, len(tags))
	for i, t := range tags {
		out[i] = Tag{Label: t.Label, Score: t.Score}
	}
	return out
}

func (e taggerEngine) Info() ModelInfo {
	i := e.t.Info()
	return ModelInfo{Name: i.Name, Path: i.Path, SHA256: i.SHA256, Arch: i.Arch, Layout: i.Layout,
		Source: i.Source, Activation: i.Activation, InputSize: i.InputSize, Classes: i.Classes, Thresholds: i.Thresholds}
}

func (e taggerEngine) Close() error { return e.t.Close() }

// realEngine opens the imported Keras ResNet50 with batch graphs of maxBatch, or
// skips t when the model file is absent or in -short mode.
func realEngine(t testing.TB, maxBatch int) taggerEngine {
	t.Helper()
	path := testenv.KerasModel(t)
	tg, err := autotag.Open(context.Background(), path, autotag.WithBatchSize(maxBatch))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return taggerEngine{tg}
}
