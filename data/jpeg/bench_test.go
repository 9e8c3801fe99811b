package jpeg

import (
	"bytes"
	"image"
	stdjpeg "image/jpeg"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/autotag/autotag/internal/testenv"
)

// benchPhotos loads the first 32 coco128 val2017 photos, or kite.jpg.
func benchPhotos(b *testing.B, set string) [][]byte {
	b.Helper()
	var files []string
	if set == "coco" {
		dir := testenv.SharedData(b, "coco128", "images", "val2017")
		all, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
		if err != nil {
			b.Fatal(err)
		}
		sort.Strings(all)
		files = all[:min(32, len(all))]
	} else {
		files = []string{testenv.SharedData(b, "darknet-photos", "kite.jpg")}
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// centreRegion is the centred 420×420 (for 640×480; proportionally otherwise)
// region a resize-to-256 plus centre-crop-224 reads.
func centreRegion(w, h int) image.Rectangle {
	s := min(w, h) * 7 / 8
	x0, y0 := (w-s)/2, (h-s)/2
	return image.Rect(x0, y0, x0+s, y0+s)
}

// BenchmarkDecode reports ns/op per photo for image/jpeg and for Decode at Scale 1,
// Scale 2, and Scale 1 with the centre-crop Region.
func BenchmarkDecode(b *testing.B) {
	for _, set := range []string{"coco", "kite"} {
		b.Run(set, func(b *testing.B) {
			photos := benchPhotos(b, set)
			regions := make([]image.Rectangle, len(photos))
			for i, p := range photos {
				cfg, err := stdjpeg.DecodeConfig(bytes.NewReader(p))
				if err != nil {
					b.Fatal(err)
				}
				regions[i] = centreRegion(cfg.Width, cfg.Height)
			}
			run := func(name string, f func(i int) error) {
				b.Run(name, func(b *testing.B) {
					var size int64
					for _, p := range photos {
						size += int64(len(p))
					}
					b.SetBytes(size / int64(len(photos)))
					b.ReportAllocs()
					for n := 0; n < b.N; n++ {
						if err := f(n % len(photos)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			run("stdlib", func(i int) error {
				_, err := stdjpeg.Decode(bytes.NewReader(photos[i]))
				return err
			})
			run("scale1", func(i int) error {
				_, err := Decode(photos[i], Options{})
				return err
			})
			run("scale2", func(i int) error {
				_, err := Decode(photos[i], Options{Scale: 2})
				return err
			})
			run("scale1_region", func(i int) error {
				_, err := Decode(photos[i], Options{Region: regions[i]})
				return err
			})
		})
	}
}
