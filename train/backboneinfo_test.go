package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/weights"
)

// TestBackboneInfoUsesModelOpener: --from-features identifies its backbone through
// package model, as OpenBackbone does: the hash goes through the one hash cache (the
// cache file gains the file's entry, so the next run does not re-hash it), and a
// head-only file given as the backbone names the cached backbone it was trained on,
// with its own preprocessing, rather than itself.
func TestBackboneInfoUsesModelOpener(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	ts, err := tinymodel.Tensors(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(weights.ModelsDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	bb := filepath.Join(weights.ModelsDir(), "tiny.safetensors")
	if err := tinymodel.Save(bb, weights.Metadata{Classes: []string{"x", "y"}, Source: "tiny backbone"}, ts); err != nil {
		t.Fatal(err)
	}
	sum, err := weights.FileSHA256(bb)
	if err != nil {
		t.Fatal(err)
	}

	got, err := backboneInfo(bb)
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != bb || got.SHA256 != sum || got.Meta.Layout != weights.LayoutTorchvisionV15 || got.Meta.Preprocess != tinymodel.Spec() {
		t.Errorf("backboneInfo(full) = %s %s %+v", got.Path, got.SHA256, got.Meta)
	}
	b, err := os.ReadFile(filepath.Join(weights.Home(), "sha256-cache.json"))
	if err != nil {
		t.Fatalf("no hash cache after backboneInfo: %v", err)
	}
	var cache map[string]struct {
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(b, &cache); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(bb)
	if cache[abs].SHA256 != sum {
		t.Errorf("hash cache entry for %s = %q, want %s", abs, cache[abs].SHA256, sum)
	}

	w, bias := tinymodel.Linear(3, 2048, 5)
	squash := tinymodel.Spec()
	squash.Squash = true
	head := filepath.Join(t.TempDir(), "head.safetensors")
	if err := tinymodel.Save(head, weights.Metadata{Classes: []string{"a", "b", "c"}, Preprocess: squash, BackboneSHA256: sum},
		map[string]*tensor.Dense{"fc.weight": w, "fc.bias": bias}); err != nil {
		t.Fatal(err)
	}
	got, err = backboneInfo(head)
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != bb || got.SHA256 != sum || got.Meta.BackboneSHA256 != "" || got.Meta.Preprocess != squash {
		t.Errorf("backboneInfo(head-only) = %s %s %+v, want the backbone %s with the file's preprocessing", got.Path, got.SHA256, got.Meta, bb)
	}
}
