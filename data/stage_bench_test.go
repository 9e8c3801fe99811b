package data

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"github.com/autotag/autotag/internal/testenv"
)

// stagePhotos reads up to n coco128 val2017 JPEGs (skips without the shared data).
func stagePhotos(b *testing.B, n int) [][]byte {
	b.Helper()
	dir := testenv.SharedData(b, "coco128", "images", "val2017")
	paths, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil || len(paths) == 0 {
		b.Skipf("no photos in %s", dir)
	}
	sort.Strings(paths)
	paths = paths[:min(n, len(paths))]
	out := make([][]byte, len(paths))
	for i, p := range paths {
		if out[i], err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkStages splits the per-photo CPU of the serving path outside the forward
// pass into its stages on real photos (coco128 val2017, mostly 640×480 YCbCr 4:2:0).
// Run with -cpu 1 for CPU per image; ns/op is per photo.
func BenchmarkStages(b *testing.B) {
	raw := stagePhotos(b, 32)
	imgs := make([]image.Image, len(raw))
	for i, r := range raw {
		img, err := Decode(bytes.NewReader(r), DecodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		imgs[i] = img
	}
	spec := spec.Caffe()
	dst := make([]float32, 3*spec.Crop*spec.Crop)
	b.Run("jpeg.Decode", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(raw[i%len(raw)])); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Decode", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := Decode(bytes.NewReader(raw[i%len(raw)]), DecodeOptions{}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Preprocess", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := Preprocess(imgs[i%len(imgs)], spec, dst); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
