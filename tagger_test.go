package autotag

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/weights"
)

// The tests in this file run a real ResNet50 graph with random weights on 32×32 inputs
// (internal/tinymodel).

// randomResNet50 returns tiny-model tensors with a classes-wide fc.
func randomResNet50(t testing.TB, classes int) map[string]*tensor.Dense {
	t.Helper()
	ts, err := tinymodel.Tensors(classes)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

var randomLinear = tinymodel.Linear

// saveTinyModel writes a model file and returns its path.
func saveTinyModel(t testing.TB, path string, meta weights.Metadata, ts map[string]*tensor.Dense) string {
	t.Helper()
	if err := tinymodel.Save(path, meta, ts); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyClasses are the labels of the tiny fixture.
var tinyClasses = []string{"tabby", "beagle", "seashore", "car_wheel", "web_site"}

// tinyModel writes a 5-class sigmoid model into a temporary directory.
func tinyModel(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := tinymodel.Write(p, tinyClasses, "sigmoid"); err != nil {
		t.Fatal(err)
	}
	return p
}

// testImage is a deterministic image that differs with seed.
func testImage(seed, w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x*seed + y), uint8(y*3 + seed*40), uint8((x ^ y) * seed), 255})
		}
	}
	return img
}

func TestTaggerTiny(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir()) // the sha256 cache
	ctx := context.Background()
	path := tinyModel(t)
	// Batch 4, two workers: 7 images run as a full chunk and a short one of 3 (on the
	// data-parallel runner when there are two threads), both checked against singles.
	tg, err := Open(ctx, path, WithThreshold(0), WithBatchSize(4), WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	info := tg.Info()
	if info.Name != "tiny" || info.Activation != "sigmoid" || info.InputSize != 32 || len(info.Classes) != 5 ||
		len(info.SHA256) != 64 || info.Layout != weights.LayoutTorchvisionV15 {
		t.Errorf("Info = %+v", info)
	}
	imgs := []image.Image{testImage(1, 40, 50), testImage(2, 64, 48), testImage(3, 33, 33), testImage(4, 50, 40),
		testImage(5, 32, 90), testImage(6, 45, 45), testImage(7, 70, 35)}
	probs, err := tg.Probabilities(ctx, imgs)
	if err != nil {
		t.Fatal(err)
	}
	// Prepared inputs give the same probabilities as the images, bit for bit; another
	// Tagger's inputs are refused.
	ins := make([]*Input, len(imgs))
	for i, img := range imgs {
		if ins[i], err = tg.Prepare(img); err != nil {
			t.Fatal(err)
		}
	}
	prepared, err := tg.ProbabilitiesOf(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	for i := range probs {
		if !slices.Equal(prepared[i], probs[i]) {
			t.Errorf("image %d: ProbabilitiesOf %v, Probabilities %v", i, prepared[i], probs[i])
		}
	}
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ProbabilitiesOf(ctx, ins[:1]); !errors.Is(err, ErrForeignInput) {
		t.Errorf("another Tagger's input: %v, want ErrForeignInput", err)
	}
	if _, err := tg.Prepare(nil); err == nil {
		t.Error("Prepare(nil): no error")
	}
	for i, img := range imgs {
		one, err := tg.Probabilities(ctx, []image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		for c := range one[0] {
			if d := math.Abs(float64(one[0][c] - probs[i][c])); d > 1e-5 || math.IsNaN(float64(one[0][c])) {
				t.Errorf("image %d class %d: batch %v vs single %v", i, c, probs[i][c], one[0][c])
			}
		}
		tags, err := tg.Tag(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) != 5 { // threshold 0: every class, sorted
			t.Fatalf("image %d: %d tags, want 5", i, len(tags))
		}
		for j := 1; j < len(tags); j++ {
			if tags[j].Score > tags[j-1].Score {
				t.Errorf("tags not sorted: %v", tags)
			}
		}
	}
	if got, err := tg.TagBatch(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("TagBatch(nil) = %v, %v", got, err)
	}
	if _, err := tg.Tag(ctx, image.NewRGBA(image.Rect(0, 0, 0, 0))); err == nil {
		t.Error("empty image: no error")
	}
	if _, err := tg.TagReader(ctx, strings.NewReader("not an image")); !errors.Is(err, data.ErrUnsupportedFormat) {
		t.Errorf("TagReader(text): %v, want ErrUnsupportedFormat", err)
	}
	var big bytes.Buffer // a 300x300 PNG, over a 50,000-pixel cap set below
	if err := png.Encode(&big, image.NewGray(image.Rect(0, 0, 300, 300))); err != nil {
		t.Fatal(err)
	}
	capped, err := Open(ctx, path, WithMaxPixels(50_000))
	if err != nil {
		t.Fatal(err)
	}
	defer capped.Close()
	if _, err := capped.TagReader(ctx, &big); !errors.Is(err, data.ErrTooManyPixels) {
		t.Errorf("TagReader over the pixel cap: %v, want ErrTooManyPixels", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tg.TagBatch(cctx, imgs); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
}

// TestTaggerConcurrent hammers one Tagger from many goroutines (run with -race) and
// checks every result against a sequential one.
func TestTaggerConcurrent(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	ctx := context.Background()
	tg, err := Open(ctx, tinyModel(t), WithThreshold(0), WithWorkers(2), WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	imgs := make([]image.Image, 3)
	want := make([][]Tag, len(imgs))
	for i := range imgs {
		imgs[i] = testImage(i+1, 36, 40)
		if want[i], err = tg.Tag(ctx, imgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 2 {
				i := (g + k) % 2
				var got []Tag
				var err error
				if g%2 == 0 {
					got, err = tg.Tag(ctx, imgs[i])
				} else {
					var all [][]Tag
					all, err = tg.TagBatch(ctx, imgs) // 3 images: a batch of 2 and a single
					if err == nil {
						got = all[i]
					}
				}
				if err != nil {
					errs <- err
					return
				}
				if !tagsNear(got, want[i]) {
					errs <- fmt.Errorf("goroutine %d image %d: %v, want %v", g, i, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Tag(ctx, imgs[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Tag after Close: %v, want ErrClosed", err)
	}
	if err := tg.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestHeadOnlyModel checks that a head-only file (fc.* tensors + backbone_sha256) is
// joined with its cached backbone and gives the same probabilities as the full model,
// for a linear head and for an MLP head.
func TestHeadOnlyModel(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("AUTOTAG_HOME", home)
	models := filepath.Join(home, "models")
	if err := os.MkdirAll(models, 0o755); err != nil {
		t.Fatal(err)
	}
	ts := randomResNet50(t, 1000)
	bbPath := saveTinyModel(t, filepath.Join(models, "backbone.safetensors"),
		weights.Metadata{Classes: make1000(), Activation: "softmax"}, ts)
	sum, err := weights.FileSHA256(bbPath)
	if err != nil {
		t.Fatal(err)
	}
	w, b := randomLinear(3, 2048, 11)
	classes := []string{"dog", "cat", "bird"}
	full := saveTinyModel(t, filepath.Join(t.TempDir(), "full.safetensors"),
		weights.Metadata{Classes: classes, Activation: "sigmoid"},
		withFC(ts, map[string]*tensor.Dense{"fc.weight": w, "fc.bias": b}))
	head := saveTinyModel(t, filepath.Join(t.TempDir(), "head.safetensors"),
		weights.Metadata{Classes: classes, Activation: "sigmoid", BackboneSHA256: sum, Head: "linear"},
		map[string]*tensor.Dense{"fc.weight": w, "fc.bias": b})
	img := []image.Image{testImage(5, 48, 40)}
	probsOf := func(path string) []float32 {
		tg, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		p, err := tg.Probabilities(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		return p[0]
	}
	pf, ph := probsOf(full), probsOf(head)
	for c := range pf {
		if math.Abs(float64(pf[c]-ph[c])) > 1e-5 {
			t.Errorf("class %d: full model %v, head-only %v", c, pf[c], ph[c])
		}
	}

	// An MLP head: fc.0 (2048→16), ReLU, fc.2 (16→3), checked against a hand computation
	// on the backbone's features (ReLU∘Linear is what features·W gives).
	w0, b0 := randomLinear(16, 2048, 12)
	w2, b2 := randomLinear(3, 16, 13)
	mlp := saveTinyModel(t, filepath.Join(t.TempDir(), "mlp.safetensors"),
		weights.Metadata{Classes: classes, Activation: "sigmoid", BackboneSHA256: sum, Head: "mlp:16"},
		map[string]*tensor.Dense{"fc.0.weight": w0, "fc.0.bias": b0, "fc.2.weight": w2, "fc.2.bias": b2})
	pm := probsOf(mlp)
	if len(pm) != 3 {
		t.Fatalf("mlp head: %d probabilities", len(pm))
	}
	hd, err := model.NewHead(map[string]*tensor.Dense{"fc.0.weight": w0, "fc.0.bias": b0, "fc.2.weight": w2, "fc.2.bias": b2}, 2048)
	if err != nil || hd.Classes() != 3 {
		t.Fatalf("model.NewHead: %v %+v", err, hd)
	}

	// Without the backbone in the cache, the error names the missing sha256.
	os.Remove(bbPath)
	if _, err := Open(ctx, head); err == nil || !strings.Contains(err.Error(), sum) {
		t.Errorf("missing backbone: error %v does not name %s", err, sum)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	if _, err := Open(ctx, ""); err == nil || !strings.Contains(err.Error(), "weights import") {
		t.Errorf("no model: %v", err)
	}
	if _, err := Open(ctx, "nonexistent-model"); err == nil {
		t.Error("unknown model name: no error")
	}
	if _, err := Open(ctx, "x", WithThreshold(2)); err == nil {
		t.Error("threshold 2: no error")
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if _, err := Open(ctx, bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("garbage file: %v", err)
	}
}

func withFC(ts, fc map[string]*tensor.Dense) map[string]*tensor.Dense {
	out := map[string]*tensor.Dense{}
	for k, v := range ts {
		if !model.IsHeadTensor(k) {
			out[k] = v
		}
	}
	for k, v := range fc {
		out[k] = v
	}
	return out
}

func make1000() []string {
	c := make([]string, 1000)
	for i := range c {
		c[i] = fmt.Sprintf("imagenet_%d", i)
	}
	return c
}
