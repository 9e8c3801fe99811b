package data

import (
	"errors"
	"fmt"
	"image"
	"math"

	"github.com/disintegration/imaging"
)

// filterFor maps Spec.Interpolation to an imaging resampling filter. imaging widens the
// kernel by the downscaling factor, so downscaling is antialiased like PIL's resize
// (which torchvision's Resize calls on PIL images): Linear is PIL's BILINEAR and
// CatmullRom is PIL's BICUBIC (Keys cubic, a = -0.5).
func filterFor(interp string) (imaging.ResampleFilter, error) {
	switch interp {
	case "", "bilinear", "linear":
		return imaging.Linear, nil
	case "bicubic", "cubic":
		return imaging.CatmullRom, nil
	case "nearest":
		return imaging.NearestNeighbor, nil
	case "lanczos":
		return imaging.Lanczos, nil
	}
	return imaging.ResampleFilter{}, fmt.Errorf("unknown interpolation %q (want bilinear, bicubic, nearest or lanczos)", interp)
}

// ResizedSize is the size of a w×h image after resizing its shorter side to short with
// the aspect kept, using torchvision's rule (the longer side is truncated:
// torchvision/transforms/functional.py, _compute_resized_output_size).
func ResizedSize(w, h, short int) (int, int) {
	if w <= h {
		return short, int(int64(short) * int64(h) / int64(w))
	}
	return int(int64(short) * int64(w) / int64(h)), short
}

// ResizeShorter resizes img so its shorter side is short pixels (aspect kept, antialiased
// when downscaling) with the named interpolation, returning packed NRGBA pixels.
func ResizeShorter(img image.Image, short int, interp string) (*image.NRGBA, error) {
	f, err := filterFor(interp)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Empty() || short <= 0 {
		return nil, fmt.Errorf("resize %dx%d to shorter side %d: empty", b.Dx(), b.Dy(), short)
	}
	w, h := ResizedSize(b.Dx(), b.Dy(), short)
	return guard("resize", func() (*image.NRGBA, error) { return imaging.Resize(img, w, h, f), nil })
}

// centreOffset is torchvision CenterCrop's offset, int(round((size - crop) / 2)) with
// Python's round-half-to-even.
func centreOffset(size, crop int) int {
	return int(math.RoundToEven(float64(size-crop) / 2))
}

// maxAspect bounds the resized image Preprocess materialises: beyond this aspect ratio
// (a 1×40000 strip would resize to 256×10 million) only the window around the centre
// crop is resampled, with a margin of cropMargin pixels, instead of the whole image.
// The crop then matches a full resize to within the filter's rounding at that margin.
const (
	maxAspect  = 3
	cropMargin = 8
)

// resizeForCrop resizes img as the spec says and returns the resized pixels together
// with the top-left of the centre crop in them.
func resizeForCrop(img image.Image, spec Spec) (*image.NRGBA, image.Point, error) {
	f, err := filterFor(spec.Interpolation)
	if err != nil {
		return nil, image.Point{}, err
	}
	if spec.Squash {
		out, err := guard("resize", func() (*image.NRGBA, error) { return imaging.Resize(img, spec.Crop, spec.Crop, f), nil })
		return out, image.Point{}, err
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	w, h := ResizedSize(sw, sh, spec.Resize)
	if w <= maxAspect*spec.Resize && h <= maxAspect*spec.Resize {
		out, err := guard("resize", func() (*image.NRGBA, error) { return imaging.Resize(img, w, h, f), nil })
		if err != nil {
			return nil, image.Point{}, err
		}
		return out, image.Pt(centreOffset(w, spec.Crop), centreOffset(h, spec.Crop)), nil
	}
	// Extreme aspect: resample only a window of the long axis around the crop.
	win := spec.Crop + 2*cropMargin
	var src image.Rectangle
	var dw, dh int
	var off image.Point
	if w > h {
		scale := float64(sw) / float64(w)
		left := centreOffset(w, spec.Crop) - cropMargin
		x0 := b.Min.X + int(math.Floor(float64(left)*scale))
		x1 := b.Min.X + int(math.Ceil(float64(left+win)*scale))
		src = image.Rect(x0, b.Min.Y, min(x1, b.Max.X), b.Max.Y)
		dw, dh = win, h
		off = image.Pt(cropMargin, centreOffset(h, spec.Crop))
	} else {
		scale := float64(sh) / float64(h)
		top := centreOffset(h, spec.Crop) - cropMargin
		y0 := b.Min.Y + int(math.Floor(float64(top)*scale))
		y1 := b.Min.Y + int(math.Ceil(float64(top+win)*scale))
		src = image.Rect(b.Min.X, y0, b.Max.X, min(y1, b.Max.Y))
		dw, dh = w, win
		off = image.Pt(centreOffset(w, spec.Crop), cropMargin)
	}
	out, err := guard("resize", func() (*image.NRGBA, error) {
		return imaging.Resize(imaging.Crop(img, src), dw, dh, f), nil
	})
	return out, off, err
}

// cropGeometry is the resampling Preprocess does on a sw×sh image: to w×h (the
// shorter side to Resize, or Crop×Crop under Squash), of which it keeps win.
func cropGeometry(sw, sh int, spec Spec) (w, h int, win image.Rectangle) {
	if spec.Squash {
		return spec.Crop, spec.Crop, image.Rect(0, 0, spec.Crop, spec.Crop)
	}
	w, h = ResizedSize(sw, sh, spec.Resize)
	win = image.Rect(0, 0, spec.Crop, spec.Crop).Add(image.Pt(centreOffset(w, spec.Crop), centreOffset(h, spec.Crop)))
	return w, h, win
}

// SourceWindow is the part of a w×h image that Preprocess with s reads: the source
// pixels under the resampling filter's taps for the centre crop. A decoder may leave
// every pixel outside it undefined (see DecodeOptions.For) without changing
// Preprocess's output. It is the whole image for an invalid spec or a filter without
// support (nearest).
func SourceWindow(s Spec, w, h int) image.Rectangle {
	full := image.Rect(0, 0, w, h)
	f, err := filterFor(s.Interpolation)
	if err != nil || s.Validate() != nil || f.Support <= 0 || w <= 0 || h <= 0 {
		return full
	}
	rw, rh, win := cropGeometry(w, h, s)
	need := win
	if rw != w {
		xt, _ := resampleTaps(rw, w, f, win.Min.X, win.Max.X, nil)
		need.Min.X, need.Max.X = tapSpan(xt, w)
	}
	if rh != h {
		yt, _ := resampleTaps(rh, h, f, win.Min.Y, win.Max.Y, nil)
		need.Min.Y, need.Max.Y = tapSpan(yt, h)
	}
	return need.Intersect(full)
}

// channelLUT maps each 0-255 value of each output channel to (v·Scale − Mean)/Std in
// float32, so the per-pixel work is three table look-ups.
type channelLUT [3][256]float32

func newChannelLUT(spec Spec) *channelLUT {
	var t channelLUT
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			t[c][v] = (float32(v)*spec.Scale - spec.Mean[c]) / spec.Std[c]
		}
	}
	return &t
}

// Preprocess applies a model's preprocessing to img and writes 3·Crop·Crop float32
// values into dst in CHW order (channels in spec.Color order): resize the shorter side
// to spec.Resize keeping the aspect, centre crop spec.Crop×spec.Crop (or, only when
// spec.Squash is set, resize the whole image to Crop×Crop),
// then (v·Scale − Mean[c]) / Std[c] per channel. This is torchvision's evaluation
// transform (Resize, CenterCrop, ToTensor, Normalize) and Keras' caffe mode with the
// same resize and crop. Alpha is dropped (as PIL's convert("RGB") does).
func Preprocess(img image.Image, spec Spec, dst []float32) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	n := 3 * spec.Crop * spec.Crop
	if len(dst) < n {
		return fmt.Errorf("preprocess: dst holds %d floats, need %d", len(dst), n)
	}
	if img == nil || img.Bounds().Empty() {
		return errors.New("preprocess: empty image")
	}
	f, err := filterFor(spec.Interpolation)
	if err != nil {
		return err
	}
	if f.Support > 0 {
		// The usual case: resample only the crop window (resample.go), same bytes as
		// cropping the full resize.
		b := img.Bounds()
		w, h, win := cropGeometry(b.Dx(), b.Dy(), spec)
		var release func()
		rs, err := guard("resize", func() (*image.NRGBA, error) {
			out, rel := resampleCrop(img, w, h, f, win)
			release = rel
			return out, nil
		})
		if err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
		writeCHW(rs, image.Point{}, spec.Crop, spec.Color == "bgr", newChannelLUT(spec), dst[:n])
		release()
		return nil
	}
	rs, off, err := resizeForCrop(img, spec)
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	writeCHW(rs, off, spec.Crop, spec.Color == "bgr", newChannelLUT(spec), dst[:n])
	return nil
}

// writeCHW copies the crop×crop window at off of src into dst as planar channels,
// mapping each byte through lut. It reads the NRGBA pixel slice directly.
func writeCHW(src *image.NRGBA, off image.Point, crop int, bgr bool, lut *channelLUT, dst []float32) {
	plane := crop * crop
	c0, c2 := 0, 2 // source byte offsets of output channels 0 and 2
	if bgr {
		c0, c2 = 2, 0
	}
	p0, p1, p2 := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	l0, l1, l2 := &lut[0], &lut[1], &lut[2]
	for y := 0; y < crop; y++ {
		row := src.Pix[(off.Y+y)*src.Stride+off.X*4:]
		row = row[:crop*4]
		o := y * crop
		for x := 0; x < crop; x++ {
			px := row[x*4 : x*4+4]
			p0[o+x] = l0[px[c0]]
			p1[o+x] = l1[px[1]]
			p2[o+x] = l2[px[c2]]
		}
	}
}

// PreprocessBatch preprocesses imgs into one NCHW float32 batch of
// len(imgs)·3·Crop·Crop values. The first failing image's error names its index.
func PreprocessBatch(imgs []image.Image, spec Spec) ([]float32, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	n := 3 * spec.Crop * spec.Crop
	out := make([]float32, len(imgs)*n)
	for i, img := range imgs {
		if err := Preprocess(img, spec, out[i*n:(i+1)*n]); err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
	}
	return out, nil
}
