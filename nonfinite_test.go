package autotag

import (
	"context"
	"image"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/weights"
)

// TestNonFiniteProbabilities: finite weights can still overflow (a logit of +Inf
// beside one of -Inf makes softmax NaN); Probabilities, Tag and TagBatch then fail,
// naming the image, instead of returning NaN scores.
func TestNonFiniteProbabilities(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	ctx := context.Background()
	w := make([]float32, 2*2048)
	for i := range 2048 {
		w[i], w[2048+i] = math.MaxFloat32, -math.MaxFloat32
	}
	fc := map[string]*tensor.Dense{
		"fc.weight": tensor.New(tensor.WithShape(2, 2048), tensor.WithBacking(w)),
		"fc.bias":   tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 0})),
	}
	p := saveTinyModel(t, filepath.Join(t.TempDir(), "overflow.safetensors"),
		weights.Metadata{Classes: []string{"up", "down"}, Activation: "softmax"}, withFC(randomResNet50(t, 2), fc))
	tg, err := Open(ctx, p, WithoutRules())
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	imgs := []image.Image{testImage(3, 40, 40), testImage(4, 40, 40)}
	probs, err := tg.Probabilities(ctx, imgs)
	if err == nil || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "image ") {
		t.Errorf("Probabilities = %v, %v; want an error naming the image", probs, err)
	}
	if tags, err := tg.Tag(ctx, imgs[0]); err == nil || !strings.Contains(err.Error(), "image 0") {
		t.Errorf("Tag = %v, %v; want an error naming image 0", tags, err)
	}
	if tags, err := tg.TagBatch(ctx, imgs); err == nil {
		t.Errorf("TagBatch = %v, want an error", tags)
	}
	// Select never picks a NaN or infinite score, whatever the threshold.
	zero := 0.0
	if got := tg.Select([]float32{float32(math.NaN()), float32(math.Inf(1))}, Selection{Threshold: &zero}); len(got) != 0 {
		t.Errorf("Select picked %v", got)
	}
}

// TestOpenRefusesNaNWeights: a model file with a NaN in one tensor (written by
// hand, as Save refuses it) does not open, and the error names the tensor.
func TestOpenRefusesNaNWeights(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	p := saveTinyModel(t, filepath.Join(t.TempDir(), "nan.safetensors"),
		weights.Metadata{Classes: tinyClasses, Activation: "sigmoid"}, randomResNet50(t, len(tinyClasses)))
	if err := tinymodel.Poison(p, "layer2.1.bn2.running_mean", 7, float32(math.NaN())); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), `"layer2.1.bn2.running_mean"`) || !strings.Contains(err.Error(), "index 7") {
		t.Errorf("Open: %v, want an error naming layer2.1.bn2.running_mean at index 7", err)
	}
}
