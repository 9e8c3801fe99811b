package data

import (
	"bytes"
	"image"
	"image/jpeg"
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
		for _, s := range []int{8, 4, 2} {
			if min(ceilDiv(w, s), ceilDiv(h, s)) >= need {
				scale = s
				break
			}
		}
	}
	sw, sh := ceilDiv(w, scale), ceilDiv(h, scale)
	uw, uh := uprightSize(sw, sh, o)
	return scale, storedRect(spec.SourceWindow(uw, uh), o, sw, sh)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// decodeJPEG decodes a JPEG whose header said cfg, as far as opt asks (see
// DecodeOptions.For).
func decodeJPEG(b []byte, cfg image.Config, o Orientation, opt DecodeOptions) (image.Image, error) {
	return jpeg.Decode(bytes.NewReader(b))
}
