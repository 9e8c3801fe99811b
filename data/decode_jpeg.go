package data

import (
	"image"

	fastjpeg "github.com/autotag/autotag/data/jpeg"
)

// jpegPlan is how much of a JPEG to decode for opt.For: the DCT scale (1, 2, 4 or 8)
// and the region of the stored, scaled image that Preprocess will read once the
// EXIF orientation o is applied. w and h are the stored size from the header.
func jpegPlan(w, h int, o Orientation, opt DecodeOptions) (scale int, region image.Rectangle) {
	spec := opt.For
	scale = 1
	if opt.Reduce {
		need := spec.Resize // the shorter side after resizing …
		if spec.Squash {
			need = spec.Crop // … or both sides, squashed
		}
		// Reduce only as far as leaves the resize a downscale by two or more: its
		// antialiasing filter then still shapes every frequency the model sees, and
		// the DCT-domain reduction changes only what that filter removes anyway.
		// (Reducing all the way down to the resize's size visibly sharpens the
		// image and moves many more ImageNet top-1 answers; TestReducedDecodeAgreement
		// in package autotag measures the agreement.)
		need *= reduceMargin
		for _, s := range []int{8, 4, 2} {
			if min(ceilDiv(w, s), ceilDiv(h, s)) >= need {
				scale = s
				break
			}
		}
	}
	sw, sh := ceilDiv(w, scale), ceilDiv(h, scale)
	uw, uh := uprightSize(sw, sh, o)
	return scale, storedRect(SourceWindow(*spec, uw, uh), o, sw, sh)
}

// reduceMargin is how much larger than the resize target a reduced image stays.
const reduceMargin = 2

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// decodeJPEG decodes a JPEG whose header said cfg, as far as opt asks (see
// DecodeOptions.For), with data/jpeg: at full scale and without For, pixel for pixel
// what image/jpeg gives, in a fraction of the time. data/jpeg takes every JPEG
// image/jpeg decodes (grey, YCbCr, RGB, CMYK and YCCK), so every one is decoded
// under the work limits and the context; what it refuses as unsupported
// (arithmetic coding, 12-bit …) image/jpeg refuses too, and is not handed to a
// decoder that could be neither bounded nor cancelled.
func decodeJPEG(b []byte, cfg image.Config, o Orientation, opt DecodeOptions) (image.Image, error) {
	jo := fastjpeg.Options{Context: opt.Context, Limits: opt.JPEGLimits}
	if opt.For != nil {
		jo.Scale, jo.Region = jpegPlan(cfg.Width, cfg.Height, o, opt)
	}
	return fastjpeg.Decode(b, jo)
}
