package data

import (
	"bytes"
	"image"
	"math"
	"testing"
)

func TestCropRectBounds(t *testing.T) {
	a := DefaultAugment(224)
	for _, size := range []image.Point{{640, 480}, {480, 640}, {100, 100}, {1000, 50}, {3, 400}} {
		for i := 0; i < 500; i++ {
			r := AugmentRand(1, 0, i)
			c := a.CropRect(size.X, size.Y, r)
			if !c.In(image.Rect(0, 0, size.X, size.Y)) || c.Empty() {
				t.Fatalf("%v: crop %v outside the image", size, c)
			}
			if size.X == 640 {
				frac := float64(c.Dx()*c.Dy()) / float64(640*480)
				ratio := float64(c.Dx()) / float64(c.Dy())
				if frac < 0.29 || frac > 1.01 || ratio < 0.74 || ratio > 1.35 {
					t.Fatalf("crop %v: area %.3f, ratio %.3f", c, frac, ratio)
				}
			}
		}
	}
}

func TestAugmentDeterministic(t *testing.T) {
	src := Synthetic(1, 160, 9).Images[0]
	a := DefaultAugment(64)
	x1, err := a.Apply(src, 7, 3, 12)
	if err != nil {
		t.Fatal(err)
	}
	x2, _ := a.Apply(src, 7, 3, 12)
	if !bytes.Equal(x1.Pix, x2.Pix) {
		t.Fatal("same (seed, epoch, index) gave different images")
	}
	// Different epochs (and indices, seeds) draw different crops.
	crops := map[image.Rectangle]bool{}
	for e := 0; e < 10; e++ {
		crops[a.CropRect(160, 160, AugmentRand(7, e, 12))] = true
	}
	if len(crops) < 9 {
		t.Errorf("10 epochs drew only %d distinct crops", len(crops))
	}
	x3, _ := a.Apply(src, 7, 4, 12)
	if bytes.Equal(x1.Pix, x3.Pix) {
		t.Error("epochs 3 and 4 gave the same image")
	}
	if x1.Bounds().Size() != (image.Point{64, 64}) {
		t.Errorf("size %v", x1.Bounds())
	}
}

func TestAugmentFlipAndJitter(t *testing.T) {
	src := columns(8, 8)
	whole := Augment{Size: 8, Scale: [2]float64{1, 1}, Ratio: [2]float64{1, 1}}
	same, err := whole.Apply(src, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(same.Pix, src.Pix) {
		t.Error("whole-image crop at the same size without jitter changed the image")
	}
	flip := whole
	flip.FlipProb = 1
	f, _ := flip.Apply(src, 1, 0, 0)
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			if f.NRGBAAt(x, y) != src.NRGBAAt(7-x, y) {
				t.Fatalf("flip: (%d,%d) = %v, want %v", x, y, f.NRGBAAt(x, y), src.NRGBAAt(7-x, y))
			}
		}
	}
	// Brightness alone scales every value by one factor within [0.5, 1.5].
	br := whole
	br.Brightness = 0.5
	for i := 0; i < 20; i++ {
		b, _ := br.Apply(src, 3, i, 0)
		ratio := float64(b.Pix[4*63+2]) / float64(src.Pix[4*63+2]) // brightest pixel's blue
		if ratio < 0.49 || ratio > 1.51 {
			t.Fatalf("brightness ratio %.3f", ratio)
		}
	}
	// Saturation 0 factor → grey: with Saturation 1 the factor spans [0, 2].
	sat := whole
	sat.Saturation = 1
	sawGreyish := false
	for i := 0; i < 50 && !sawGreyish; i++ {
		s, _ := sat.Apply(src, 5, i, 0)
		p := s.NRGBAAt(4, 4)
		sawGreyish = math.Abs(float64(p.R)-float64(p.B)) < 0.2*math.Abs(float64(src.NRGBAAt(4, 4).R)-float64(src.NRGBAAt(4, 4).B))
	}
	if !sawGreyish {
		t.Error("saturation jitter never desaturated")
	}
	if err := (Augment{Size: 8}).Validate(); err == nil {
		t.Error("zero scale accepted")
	}
}

func TestAugmentTensor(t *testing.T) {
	src := columns(8, 8)
	whole := Augment{Size: 8, Scale: [2]float64{1, 1}, Ratio: [2]float64{1, 1}}
	spec := Spec{Resize: 8, Crop: 8, Color: "bgr", Scale: 1, Std: [3]float32{1, 1, 1}}
	got := make([]float32, 3*64)
	want := make([]float32, 3*64)
	if err := whole.ApplyTensor(src, spec, 1, 0, 0, got); err != nil {
		t.Fatal(err)
	}
	if err := Preprocess(src, spec, want); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("identity augmentation differs from Preprocess at %d: %v vs %v", i, got[i], want[i])
		}
	}
}
