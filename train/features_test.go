package train

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/testenv"
)

// TestExtractFeaturesCache runs the real backbone on two photos with two views,
// then again: the second run must read everything from the cache and give the same
// numbers; a head trained on them round-trips through a model file.
func TestExtractFeaturesCache(t *testing.T) {
	model := testenv.KerasModel(t)
	photos := testenv.SharedData(t, "darknet-photos")
	ds := &data.Dataset{Classes: []string{"dog", "horse"}, Records: []data.Record{
		{Path: filepath.Join(photos, "dog.jpg"), Labels: []int{0}},
		{Path: filepath.Join(photos, "horses.jpg"), Labels: []int{1}},
	}}
	bb, err := OpenBackbone(model, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer bb.Close()
	cache := t.TempDir()
	opt := ExtractOptions{CacheDir: cache, Views: 2, Seed: 3}
	f1, key1, err := ExtractFeatures(context.Background(), bb, ds, opt)
	if err != nil {
		t.Fatal(err)
	}
	if f1.N != 2 || f1.K != 2 || len(f1.X) != 2*2*2048 {
		t.Fatalf("features %d×%d, %d values", f1.N, f1.K, len(f1.X))
	}
	// pooled ReLU features: non-negative, not all zero; views differ
	var sum float64
	for _, v := range f1.X {
		if v < 0 || math.IsNaN(float64(v)) {
			t.Fatalf("feature %v", v)
		}
		sum += float64(v)
	}
	if sum == 0 || slices.Equal(f1.X[:2048], f1.X[2048:4096]) {
		t.Fatal("features are zero, or the augmented view equals the plain one")
	}
	f2, key2, err := ExtractFeatures(context.Background(), bb, ds, opt)
	if err != nil {
		t.Fatal(err)
	}
	if key1 != key2 || !slices.Equal(f1.X, f2.X) {
		t.Fatal("cached features differ from computed ones")
	}
	// another augmentation seed shares view 0 but not view 1
	opt.Seed = 4
	if FeatureKey(bb, opt, 0) != key1[:24] || FeatureKey(bb, opt, 1) == FeatureKey(bb, ExtractOptions{Seed: 3}, 1) {
		t.Error("view 0 must not depend on the augmentation seed; view 1 must")
	}
}
