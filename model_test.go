package autotag

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/testenv"
)

// TestKerasModelDarknetPhotos runs the imported pretrained ResNet50 on the shared
// photos: with the default rules dog.jpg is tagged dog and eagle.jpg bird; without
// rules the top labels are a dog breed and bald_eagle.
func TestKerasModelDarknetPhotos(t *testing.T) {
	model := testenv.KerasModel(t)
	dir := testenv.SharedData(t, "darknet-photos")
	ctx := context.Background()
	tg, err := Open(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	raw, err := Open(ctx, model, WithoutRules(), WithTopK(1))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	info := tg.Info()
	if len(info.Classes) != 1000 || info.Activation != "softmax" || info.Layout != "keras-v1" {
		t.Fatalf("Info = %+v", info)
	}
	for _, tc := range []struct{ file, tag, rawTop string }{
		{"dog.jpg", "dog", ""},
		{"eagle.jpg", "bird", "bald_eagle"},
	} {
		f, err := os.Open(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		tags, err := tg.TagReader(ctx, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v", tc.file, tags)
		if len(tags) == 0 || tags[0].Label != tc.tag {
			t.Errorf("%s: tags %v, want %q first", tc.file, tags, tc.tag)
		}
		f, _ = os.Open(filepath.Join(dir, tc.file))
		rawTags, err := raw.TagReader(ctx, f)
		f.Close()
		if err != nil || len(rawTags) != 1 {
			t.Fatalf("%s raw: %v %v", tc.file, rawTags, err)
		}
		t.Logf("%s without rules: %v", tc.file, rawTags)
		idx := slices.Index(info.Classes, rawTags[0].Label)
		switch {
		case tc.rawTop != "" && rawTags[0].Label != tc.rawTop:
			t.Errorf("%s: top raw label %q, want %q", tc.file, rawTags[0].Label, tc.rawTop)
		case tc.rawTop == "" && (idx < 151 || idx > 268):
			t.Errorf("%s: top raw label %q (class %d) is not a dog breed", tc.file, rawTags[0].Label, idx)
		}
	}
}

// BenchmarkTag measures one photo through preprocessing, the pretrained ResNet50 and
// the default rules (decoding excluded): go test -run - -bench Tag -benchtime 20x .
func BenchmarkTag(b *testing.B) {
	model := testenv.KerasModel(b)
	dir := testenv.SharedData(b, "darknet-photos")
	img, err := data.DecodeFile(filepath.Join(dir, "dog.jpg"), data.DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tg, err := Open(ctx, model)
	if err != nil {
		b.Fatal(err)
	}
	defer tg.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := tg.Tag(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
}

// BenchmarkSelectDefaultRules measures turning 1000 ImageNet probabilities into tags.
func BenchmarkSelectDefaultRules(b *testing.B) {
	classes := make([]string, 1000)
	probs := make([]float32, 1000)
	for i := range classes {
		classes[i] = fmt.Sprint("c", i)
		probs[i] = 1.0 / 1000
	}
	probs[250] = 0.5
	sel, err := NewSelector(classes, "softmax", DefaultRules(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		sel.Select(probs, Selection{})
	}
}
