package autotag

import (
	"context"
	"image"
	"math"
	"testing"

	"github.com/autotag/autotag/nn"
)

// TestWithEngine opens one model twice, once with every engine optimisation off: the
// option reaches this Tagger's network only (no data-parallel pool for it, one for the
// default), and both give the same probabilities.
func TestWithEngine(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir()) // the sha256 cache
	ctx := context.Background()
	path := tinyModel(t)
	off := nn.Engine{DisableWinograd: true, DisableFusedGEMM: true, DisableDataParallel: true}
	plain, err := Open(ctx, path, WithThreshold(0), WithBatchSize(4), WithEngine(off))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	def, err := Open(ctx, path, WithThreshold(0), WithBatchSize(4))
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	if plain.shared != nil {
		t.Error("DisableDataParallel: the Tagger built a data-parallel pool")
	}
	if def.shared == nil {
		t.Error("default engine: no data-parallel pool for batch 4")
	}
	imgs := []image.Image{testImage(1, 40, 50), testImage(2, 64, 48), testImage(3, 33, 33), testImage(4, 50, 40)}
	pp, err := plain.Probabilities(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := def.Probabilities(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pp {
		for j := range pp[i] {
			if d := math.Abs(float64(pp[i][j] - dp[i][j])); d > 1e-5 {
				t.Errorf("image %d class %d: %g with the plain engine, %g with the default", i, j, pp[i][j], dp[i][j])
			}
		}
	}
}
