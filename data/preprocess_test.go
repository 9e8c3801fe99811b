package data

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"github.com/disintegration/imaging"
)

// columns is a w×h image whose column x has colour (10x+1, 10x+2, 10x+3) and row
// offset 40y added to red, so every pixel is distinct and easy to predict.
func columns(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(10*x + 1 + 40*y), uint8(10*x + 2), uint8(10*x + 3), 255})
		}
	}
	return img
}

var raw = Spec{Resize: 4, Crop: 2, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}}

func TestPreprocessTable(t *testing.T) {
	caffe := spec.Caffe()
	caffe.Resize, caffe.Crop = 2, 2
	torch := spec.Torchvision()
	torch.Resize, torch.Crop = 2, 2
	solid := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	for i := 0; i < 4; i++ {
		copy(solid.Pix[4*i:], []uint8{10, 20, 30, 255})
	}
	spec := func(s Spec, resize, crop int) Spec { s.Resize, s.Crop = resize, crop; return s }
	for _, tc := range []struct {
		name string
		img  image.Image
		spec Spec
		want []float32
	}{
		{
			// 4x4, no resize, crop 2 at offset round(1)=1: rows 1-2, columns 1-2.
			name: "centre crop", img: columns(4, 4), spec: raw,
			want: []float32{
				51, 61, 91, 101, // R plane (row-major)
				12, 22, 12, 22, // G
				13, 23, 13, 23, // B
			},
		},
		{
			// 5 wide, crop 4: offset round(0.5) = 0 (round half to even, as torchvision).
			name: "half offset rounds to even", img: columns(5, 4), spec: spec(raw, 4, 4),
			want: nil, // checked below via first value
		},
		{
			// 6 wide x 2 high: offset x = 2, y = 0.
			name: "landscape", img: columns(6, 2), spec: spec(raw, 2, 2),
			want: []float32{21, 31, 61, 71, 22, 32, 22, 32, 23, 33, 23, 33},
		},
		{
			// 2 wide x 6 high: offset y = 2.
			name: "portrait", img: columns(2, 6), spec: spec(raw, 2, 2),
			want: []float32{81, 91, 121, 131, 2, 12, 2, 12, 3, 13, 3, 13},
		},
		{
			name: "bgr caffe", img: solid, spec: caffe,
			want: []float32{
				30 - 103.939, 30 - 103.939, 30 - 103.939, 30 - 103.939,
				20 - 116.779, 20 - 116.779, 20 - 116.779, 20 - 116.779,
				10 - 123.68, 10 - 123.68, 10 - 123.68, 10 - 123.68,
			},
		},
		{
			name: "torchvision normalise", img: solid, spec: torch,
			want: func() []float32 {
				var out []float32
				for c, v := range []float32{10, 20, 30} {
					x := (v*float32(1.0/255) - torch.Mean[c]) / torch.Std[c]
					out = append(out, x, x, x, x)
				}
				return out
			}(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, 3*tc.spec.Crop*tc.spec.Crop)
			if err := Preprocess(tc.img, tc.spec, dst); err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if dst[0] != 1 { // column 0, row 0
					t.Errorf("first value %v, want 1 (offset 0)", dst[0])
				}
				return
			}
			for i := range tc.want {
				if dst[i] != tc.want[i] {
					t.Fatalf("dst = %v\nwant %v", dst, tc.want)
				}
			}
		})
	}
}

func TestPreprocessResize(t *testing.T) {
	// A solid image stays exactly solid through the (antialiased) resize, up or down.
	for _, size := range []image.Point{{640, 480}, {17, 31}, {3, 3}} {
		img := image.NewNRGBA(image.Rect(0, 0, size.X, size.Y))
		for i := 0; i < len(img.Pix); i += 4 {
			copy(img.Pix[i:], []uint8{50, 100, 150, 255})
		}
		for _, interp := range []string{"bilinear", "bicubic"} {
			s := Spec{Resize: 16, Crop: 12, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}, Interpolation: interp}
			dst := make([]float32, 3*12*12)
			if err := Preprocess(img, s, dst); err != nil {
				t.Fatal(err)
			}
			for i, v := range dst {
				if want := float32(50 * (1 + i/144)); v != want {
					t.Fatalf("%v %s: dst[%d] = %v, want %v", size, interp, i, v, want)
				}
			}
		}
	}
	// Left half black, right half white, 8x4 → shorter side 2 gives 4x2: the outer
	// columns stay pure, the middle ones blend.
	img := image.NewNRGBA(image.Rect(0, 0, 8, 4))
	for y := 0; y < 4; y++ {
		for x := 4; x < 8; x++ {
			img.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
		}
		for x := 0; x < 4; x++ {
			img.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 255})
		}
	}
	dst := make([]float32, 3*2*2)
	if err := Preprocess(img, Spec{Resize: 2, Crop: 2, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}}, dst); err != nil {
		t.Fatal(err)
	}
	// Crop of the 4x2 resize at x offset 1: columns 1 and 2, which straddle the edge.
	if !(dst[0] < 128 && dst[1] > 127) {
		t.Errorf("edge columns %v %v: want dark then light", dst[0], dst[1])
	}
}

func TestResizedSize(t *testing.T) {
	for _, tc := range []struct{ w, h, s, ww, wh int }{
		{640, 480, 256, 341, 256}, // torchvision: int(256*640/480) = 341
		{480, 640, 256, 256, 341},
		{500, 375, 256, 341, 256},
		{100, 100, 256, 256, 256},
		{1, 1000, 4, 4, 4000},
	} {
		if w, h := ResizedSize(tc.w, tc.h, tc.s); w != tc.ww || h != tc.wh {
			t.Errorf("ResizedSize(%d,%d,%d) = %d,%d want %d,%d", tc.w, tc.h, tc.s, w, h, tc.ww, tc.wh)
		}
	}
}

// TestPreprocessExtremeAspect checks that a very long strip is not resized whole
// (1×40000 would become 256×10 million) and that the windowed resize agrees with the
// full one.
func TestPreprocessExtremeAspect(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2000, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 2000; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(x / 8), uint8(y * 10), 255})
		}
	}
	s := Spec{Resize: 16, Crop: 16, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}}
	got := make([]float32, 3*16*16)
	if err := Preprocess(img, s, got); err != nil {
		t.Fatal(err)
	}
	w, h := ResizedSize(2000, 20, 16)
	full := imaging.Resize(img, w, h, imaging.Linear)
	want := make([]float32, len(got))
	writeCHW(full, image.Pt(centreOffset(w, 16), centreOffset(h, 16)), 16, false, newChannelLUT(s), want)
	var worst float64
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	if worst > 3 {
		t.Errorf("windowed resize differs from the full one by up to %v", worst)
	}
}

func TestPreprocessErrors(t *testing.T) {
	img := columns(4, 4)
	for _, tc := range []struct {
		name  string
		img   image.Image
		spec  Spec
		n     int
		words string
	}{
		{"crop > resize", img, Spec{Resize: 2, Crop: 4, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}}, 48, "crop"},
		{"colour", img, Spec{Resize: 4, Crop: 4, Color: "hsv", Scale: 1, Std: [3]float32{1, 1, 1}}, 48, "hsv"},
		{"std 0", img, Spec{Resize: 4, Crop: 4, Color: "rgb", Scale: 1}, 48, "std"},
		{"interp", img, Spec{Resize: 4, Crop: 4, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}, Interpolation: "magic"}, 48, "magic"},
		{"short dst", img, raw, 5, "need 12"},
		{"nil image", nil, raw, 12, "empty"},
		{"empty image", image.NewNRGBA(image.Rect(0, 0, 0, 5)), raw, 12, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Preprocess(tc.img, tc.spec, make([]float32, tc.n))
			if err == nil || !strings.Contains(err.Error(), tc.words) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.words)
			}
		})
	}
	if _, err := PreprocessBatch([]image.Image{img, nil}, raw); err == nil || !strings.Contains(err.Error(), "image 1") {
		t.Errorf("batch error %v does not name image 1", err)
	}
}

func TestPreprocessBatchLayout(t *testing.T) {
	a, b := columns(4, 4), columns(6, 6)
	batch, err := PreprocessBatch([]image.Image{a, b}, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 2*12 {
		t.Fatalf("len %d", len(batch))
	}
	one := make([]float32, 12)
	for i, img := range []image.Image{a, b} {
		if err := Preprocess(img, raw, one); err != nil {
			t.Fatal(err)
		}
		for j := range one {
			if batch[i*12+j] != one[j] {
				t.Fatalf("batch item %d differs from Preprocess", i)
			}
		}
	}
}

// BenchmarkPreprocess measures decode-free preprocessing of a 640×480 photo-sized
// YCbCr image (what image/jpeg returns) to the 224 caffe input.
func BenchmarkPreprocess(b *testing.B) {
	src := image.NewYCbCr(image.Rect(0, 0, 640, 480), image.YCbCrSubsampleRatio420)
	for i := range src.Y {
		src.Y[i] = uint8(i)
	}
	dst := make([]float32, 3*224*224)
	spec := spec.Caffe()
	b.ReportAllocs()
	for b.Loop() {
		if err := Preprocess(src, spec, dst); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPreprocessSquash(t *testing.T) {
	// A 40×10 image: a red left quarter, blue elsewhere. Resize 8 + crop 4 keeps only
	// the centre (blue); a squash keeps the whole width, so column 0 is red.
	img := image.NewNRGBA(image.Rect(0, 0, 40, 10))
	for y := 0; y < 10; y++ {
		for x := 0; x < 40; x++ {
			c := color.NRGBA{0, 0, 255, 255}
			if x < 10 {
				c = color.NRGBA{255, 0, 0, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	s := Spec{Resize: 8, Crop: 4, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}, Interpolation: "bilinear"}
	crop := make([]float32, 3*16)
	if err := Preprocess(img, s, crop); err != nil {
		t.Fatal(err)
	}
	if crop[0] != 0 || crop[2*16] != 255 {
		t.Errorf("centre crop: pixel (0,0) = R %v B %v, want blue", crop[0], crop[2*16])
	}
	s.Squash = true
	sq := make([]float32, 3*16)
	if err := Preprocess(img, s, sq); err != nil {
		t.Fatal(err)
	}
	// The antialiasing filter reaches into the blue neighbour: mostly red, not pure.
	if sq[0] < 200 || sq[2*16] > 60 {
		t.Errorf("squash: pixel (0,0) = R %v B %v, want mostly red", sq[0], sq[2*16])
	}
	if sq[3] != 0 || sq[2*16+3] != 255 {
		t.Errorf("squash: pixel (3,0) = R %v B %v, want blue", sq[3], sq[2*16+3])
	}
}

// TestSourceWindow checks the promise DecodeOptions.For relies on: pixels outside
// Spec.SourceWindow may hold anything without changing Preprocess's output, for
// YCbCr 4:2:0 (the JPEG decoder's output) and NRGBA sources, and that the window is
// a real saving for ordinary photos.
func TestSourceWindow(t *testing.T) {
	bicubic := spec.Caffe()
	bicubic.Interpolation = "bicubic"
	squash := spec.Torchvision()
	squash.Squash = true
	lanczos := spec.Torchvision()
	lanczos.Interpolation = "lanczos"
	specs := map[string]Spec{"caffe": spec.Caffe(), "torchvision": spec.Torchvision(), "bicubic": bicubic,
		"squash": squash, "lanczos": lanczos}
	sizes := [][2]int{{640, 480}, {480, 640}, {500, 500}, {1352, 900}, {300, 2000}, {224, 224}, {256, 300}, {100, 80}, {7, 3}}
	for name, spec := range specs {
		for _, sz := range sizes {
			w, h := sz[0], sz[1]
			win := SourceWindow(spec, w, h)
			if win.Empty() || !win.In(image.Rect(0, 0, w, h)) {
				t.Fatalf("%s %dx%d: window %v", name, w, h, win)
			}
			ycc := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
			for i := range ycc.Y {
				ycc.Y[i] = uint8(i*7 + i/w)
			}
			for i := range ycc.Cb {
				ycc.Cb[i], ycc.Cr[i] = uint8(i*3), uint8(255-i*5)
			}
			nrgba := imaging.Clone(ycc)
			for _, src := range []image.Image{ycc, nrgba} {
				want := make([]float32, 3*spec.Crop*spec.Crop)
				if err := Preprocess(src, spec, want); err != nil {
					t.Fatal(err)
				}
				spoilOutside(src, win)
				got := make([]float32, len(want))
				if err := Preprocess(src, spec, got); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s %dx%d %T: value %d changed (%v → %v) when pixels outside %v changed", name, w, h, src, i, want[i], got[i], win)
					}
				}
			}
		}
	}
	// 640×480 under the 256/224 resize and crop reads about 420×420 plus the filter's reach.
	if win := SourceWindow(spec.Caffe(), 640, 480); win.Dx() > 430 || win.Dy() > 430 {
		t.Errorf("caffe 640x480: window %v, want about 420x420 in the centre", win)
	}
}

// spoilOutside overwrites every pixel of img outside win (and, for YCbCr, every chroma
// sample no pixel inside win uses) with a value no real pixel there had.
func spoilOutside(img image.Image, win image.Rectangle) {
	switch im := img.(type) {
	case *image.YCbCr:
		used := make([]bool, len(im.Cb))
		for y := win.Min.Y; y < win.Max.Y; y++ {
			for x := win.Min.X; x < win.Max.X; x++ {
				used[im.COffset(x, y)] = true
			}
		}
		for i := range im.Cb {
			if !used[i] {
				im.Cb[i], im.Cr[i] = 0, 255
			}
		}
		b := im.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if !image.Pt(x, y).In(win) {
					im.Y[im.YOffset(x, y)] = 255
				}
			}
		}
	case *image.NRGBA:
		b := im.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if !image.Pt(x, y).In(win) {
					im.SetNRGBA(x, y, color.NRGBA{255, 0, 255, 255})
				}
			}
		}
	}
}

// TestSpecValidateRefusesHostileNumbers: a model file's preprocessing comes from its
// metadata: a huge crop would make every image cost gigabytes, and a non-finite
// scale, mean or std (or a std whose reciprocal overflows) would make every score NaN.
func TestSpecValidateRefusesHostileNumbers(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	for name, edit := range map[string]func(*Spec){
		"resize 1e9":     func(s *Spec) { s.Resize, s.Crop = 1_000_000_000, 1_000_000_000 },
		"resize 0":       func(s *Spec) { s.Resize, s.Crop = 0, 0 },
		"NaN scale":      func(s *Spec) { s.Scale = nan },
		"Inf mean":       func(s *Spec) { s.Mean[1] = inf },
		"NaN std":        func(s *Spec) { s.Std[2] = nan },
		"subnormal std":  func(s *Spec) { s.Std[0] = 1e-45 },
		"infinite scale": func(s *Spec) { s.Scale = -inf },
	} {
		s := spec.Torchvision()
		edit(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, s)
		}
	}
	if err := spec.Torchvision().Validate(); err != nil {
		t.Errorf("torchvision spec: %v", err)
	}
}

// TestKnownInterpolationsHaveFilters: every interpolation name spec accepts in a
// model file maps to a resampling filter here, and no other name does.
func TestKnownInterpolationsHaveFilters(t *testing.T) {
	for _, name := range []string{"", "bilinear", "linear", "bicubic", "cubic", "nearest", "lanczos", "sinc", "Bilinear", "area"} {
		_, err := filterFor(name)
		if known := spec.KnownInterpolation(name); known != (err == nil) {
			t.Errorf("%q: spec.KnownInterpolation %t, filterFor error %v", name, known, err)
		}
	}
}
