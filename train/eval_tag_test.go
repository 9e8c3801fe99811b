package train

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/weights"
)

// TestEvalScoresEqualTagScores evaluates head-only (linear, MLP, squash-trained)
// and bundled models with `eval`'s EvalModel and tags the same images with the
// library's Tagger: the probabilities must be bit-identical, as both open the model
// through package model and score through Model.Scores.
func TestEvalScoresEqualTagScores(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	ctx := context.Background()
	classes := []string{"a", "b", "c"}

	// the backbone, cached so head-only files find it by sha256
	bbTensors, err := tinymodel.Tensors(4)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(weights.ModelsDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	bbPath := filepath.Join(weights.ModelsDir(), "tiny-backbone.safetensors")
	if err := tinymodel.Save(bbPath, weights.Metadata{Classes: []string{"w", "x", "y", "z"}}, bbTensors); err != nil {
		t.Fatal(err)
	}
	sum, err := model.FileHash(bbPath)
	if err != nil {
		t.Fatal(err)
	}

	// images of several sizes and a CSV dataset naming them
	dir := t.TempDir()
	var rows []string
	for i := range 5 {
		name := fmt.Sprintf("img%d.png", i)
		writePNG(t, filepath.Join(dir, name), i+1, 40+7*i, 33+5*i)
		rows = append(rows, fmt.Sprintf("%s,%s", name, classes[i%3]))
	}
	csvPath := filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(csvPath, []byte("file,tags\n"+strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := "csv:" + csvPath + ":" + dir
	ds, err := LoadDatasets([]string{spec}, nil)
	if err != nil {
		t.Fatal(err)
	}

	w, b := tinymodel.Linear(3, 2048, 21)
	w0, b0 := tinymodel.Linear(16, 2048, 22)
	w2, b2 := tinymodel.Linear(3, 16, 23)
	headOnly := weights.Metadata{Classes: classes, Activation: "sigmoid", BackboneSHA256: sum, Head: "linear"}
	squash := headOnly
	squash.Preprocess = tinymodel.Spec()
	squash.Preprocess.Squash = true
	mlp := headOnly
	mlp.Head = "mlp:16"
	bundle := weights.Metadata{Classes: classes, Activation: "sigmoid", Head: "linear"}
	bundleTensors := map[string]*tensor.Dense{}
	for k, v := range bbTensors {
		if !model.IsHeadTensor(k) {
			bundleTensors[k] = v
		}
	}
	bundleTensors["fc.weight"], bundleTensors["fc.bias"] = w, b
	for _, tc := range []struct {
		name  string
		meta  weights.Metadata
		ts    map[string]*tensor.Dense
		batch int
	}{
		{"linear", headOnly, map[string]*tensor.Dense{"fc.weight": w, "fc.bias": b}, 1},
		{"squash", squash, map[string]*tensor.Dense{"fc.weight": w, "fc.bias": b}, 1},
		{"mlp", mlp, map[string]*tensor.Dense{"fc.0.weight": w0, "fc.0.bias": b0, "fc.2.weight": w2, "fc.2.bias": b2}, 1},
		{"bundle", bundle, bundleTensors, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name+".safetensors")
			if err := tinymodel.Save(path, tc.meta, tc.ts); err != nil {
				t.Fatal(err)
			}
			res, err := EvalModel(ctx, path, spec, EvalOptions{CacheDir: t.TempDir(), BackboneBatch: tc.batch})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := res.Probabilities()
			tg, err := autotag.Open(ctx, path, autotag.WithBatchSize(tc.batch))
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			for i, r := range ds.Records {
				img, err := data.DecodeFile(r.Path, data.DecodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				want, err := tg.Probabilities(ctx, []image.Image{img})
				if err != nil {
					t.Fatal(err)
				}
				if e := got[i*3 : (i+1)*3]; !slices.Equal(e, want[0]) {
					t.Errorf("%s: eval %v, tag %v", filepath.Base(r.Path), e, want[0])
				}
			}
		})
	}
}

// writePNG writes a deterministic w×h image that differs with seed.
func writePNG(t *testing.T, path string, seed, w, h int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x*seed + y), uint8(y*3 + seed*40), uint8((x ^ y) * seed), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}
