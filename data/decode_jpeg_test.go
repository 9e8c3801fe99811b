package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"github.com/autotag/autotag/internal/testenv"
)

// forPhotos returns JPEGs to test DecodeOptions.For on: the darknet photos and the
// first 24 coco128 val2017 photos, or, without the shared data, synthetic ones.
func forPhotos(t *testing.T) map[string][]byte {
	out := map[string][]byte{}
	if dir := testenv.SharedDataDir(); dir != "" {
		dark, _ := filepath.Glob(filepath.Join(dir, "darknet-photos", "*.jpg"))
		coco, _ := filepath.Glob(filepath.Join(dir, "coco128", "images", "val2017", "*.jpg"))
		for _, p := range append(dark, coco[:min(24, len(coco))]...) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(p)] = b
		}
	}
	if len(out) == 0 {
		for _, sz := range [][2]int{{640, 480}, {1100, 700}, {333, 900}} {
			out[fmt.Sprintf("quadrants-%dx%d", sz[0], sz[1])] = encode(t, "jpeg", quadrants(sz[0], sz[1]))
		}
	}
	return out
}

// TestDecodeFor checks DecodeOptions.For and Reduce on real photos under every EXIF
// orientation: decoding only the crop's source window leaves Preprocess's output
// identical to a full decode's, bit for bit; a reduced decode has the planned size and
// stays close (the mean |Δ| of the preprocessed values, in 0-255 levels, is logged
// and loosely bounded); and without For the decode is image/jpeg's, pixel for pixel.
func TestDecodeFor(t *testing.T) {
	photos := forPhotos(t)
	squash := spec.Torchvision()
	squash.Squash = true
	specs := map[string]Spec{"caffe": spec.Caffe(), "squash": squash}
	var reducedN int
	var reducedMean, reducedMax float64
	for name, plain := range photos {
		for _, o := range []uint16{1, 2, 3, 6, 7, 8} {
			if o != 1 && o != 6 && len(name) > 12 && name[:4] == "0000" { // every orientation on a few coco photos only
				continue
			}
			b := plain
			if o != 1 {
				b = withEXIF(plain, o, binary.BigEndian)
			}
			full, err := DecodeBytes(b, DecodeOptions{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if o == 1 {
				std, err := jpeg.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				if !sameYCbCr(std, full) {
					t.Errorf("%s: DecodeBytes differs from image/jpeg", name)
				}
			}
			for sname, spec := range specs {
				want := make([]float32, 3*spec.Crop*spec.Crop)
				if err := Preprocess(full, spec, want); err != nil {
					t.Fatal(err)
				}
				region, err := DecodeBytes(b, DecodeOptions{For: &spec})
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float32, len(want))
				if err := Preprocess(region, spec, got); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s orientation %d %s: the crop-window decode changed value %d: %v → %v", name, o, sname, i, want[i], got[i])
					}
				}
				reduced, err := DecodeBytes(b, DecodeOptions{For: &spec, Reduce: true})
				if err != nil {
					t.Fatal(err)
				}
				fb := full.Bounds()
				need := spec.Resize
				if spec.Squash {
					need = spec.Crop
				}
				scale := 1
				for _, s := range []int{8, 4, 2} {
					if min(ceilDiv(fb.Dx(), s), ceilDiv(fb.Dy(), s)) >= 2*need {
						scale = s
						break
					}
				}
				if rb := reduced.Bounds(); rb.Dx() != ceilDiv(fb.Dx(), scale) || rb.Dy() != ceilDiv(fb.Dy(), scale) {
					t.Errorf("%s orientation %d %s: reduced to %v, want 1/%d of %v", name, o, sname, rb, scale, fb)
				}
				if scale == 1 {
					continue
				}
				if err := Preprocess(reduced, spec, got); err != nil {
					t.Fatal(err)
				}
				var sum, worst float64
				for i := range want {
					d := math.Abs(float64(got[i] - want[i]))
					sum += d
					worst = max(worst, d)
				}
				mean := sum / float64(len(want))
				reducedN++
				reducedMean += mean
				reducedMax = max(reducedMax, mean)
				// A reduced image can be half a pixel wider or taller than the photo
				// halved (773 → 387), which shifts a detailed crop by up to a pixel: the
				// bound is loose; TestReducedDecodeAgreement (package autotag) checks
				// what matters, the model's answers.
				if mean > 12 {
					t.Errorf("%s orientation %d %s: reduced decode's preprocessed values differ by %.2f levels on average (max %.0f)", name, o, sname, mean, worst)
				}
			}
		}
	}
	if reducedN > 0 {
		t.Logf("reduced decodes: %d; mean |Δ| of the preprocessed values %.2f levels (worst photo %.2f)", reducedN, reducedMean/float64(reducedN), reducedMax)
	}
}

// sameYCbCr reports whether two decoded images have the same type, bounds and pixels.
func sameYCbCr(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	switch x := a.(type) {
	case *image.YCbCr:
		y, ok := b.(*image.YCbCr)
		if !ok || x.SubsampleRatio != y.SubsampleRatio {
			return false
		}
		r := x.Bounds()
		for py := r.Min.Y; py < r.Max.Y; py++ {
			for px := r.Min.X; px < r.Max.X; px++ {
				if x.Y[x.YOffset(px, py)] != y.Y[y.YOffset(px, py)] ||
					x.Cb[x.COffset(px, py)] != y.Cb[y.COffset(px, py)] || x.Cr[x.COffset(px, py)] != y.Cr[y.COffset(px, py)] {
					return false
				}
			}
		}
		return true
	case *image.Gray:
		y, ok := b.(*image.Gray)
		return ok && bytes.Equal(x.Pix, y.Pix)
	}
	return false
}
