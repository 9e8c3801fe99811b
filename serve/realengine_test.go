package serve

import (
	"context"
	"testing"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/internal/testenv"
)

// The real engine is *autotag.Tagger itself: it is an Engine, a Closer and a
// Decoder, exactly as autotag serve hands it to New.
var (
	_ Engine  = (*autotag.Tagger)(nil)
	_ Closer  = (*autotag.Tagger)(nil)
	_ Decoder = (*autotag.Tagger)(nil)
)

// realEngine opens the imported Keras ResNet50 with batch graphs of maxBatch, or
// skips t when the model file is absent or in -short mode.
func realEngine(t testing.TB, maxBatch int) *autotag.Tagger {
	t.Helper()
	path := testenv.KerasModel(t)
	tg, err := autotag.Open(context.Background(), path, autotag.WithBatchSize(maxBatch))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}
