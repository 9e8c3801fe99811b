package jpeg

import (
	"errors"
	"image"
	"image/draw"
)

// The colour models image/jpeg returns other than Gray and YCbCr, made from the
// decoded planes the way it makes them, so that the samples are the same.

// errNoAdobe is image/jpeg's refusal of a 4-component image whose colour model
// nothing names. It does not wrap ErrUnsupported: no other decoder in reach takes
// such a file either, so there is nothing to fall back to.
var errNoAdobe = errors.New("jpeg: unknown colour model: 4-component JPEG without Adobe APP14 metadata")

// applyBlack combines the first three components (d.ycc) and the fourth
// (planes[3]) into an *image.CMYK. Adobe writes CMYK inverted (255 is no ink), so
// every channel is inverted back; for YCCK (any Adobe transform but "unknown", as
// libjpeg assumes) the first three are YCbCr of the inverted CMY, so converting them
// to RGB gives CMY directly and only K is inverted.
func (d *decoder) applyBlack() (image.Image, error) {
	if !d.adobeValid {
		return nil, errNoAdobe
	}
	r := d.ycc.Bounds()
	black, bstride := d.planes[3], d.strides[3]
	if d.adobeTransform != adobeTransformUnknown {
		// draw.Draw of a YCbCr onto an RGBA uses the same conversion (and
		// rounding) as image/jpeg.
		rgba := image.NewRGBA(r)
		draw.Draw(rgba, r, d.ycc, r.Min, draw.Src)
		for y := 0; y < r.Dy(); y++ {
			row := rgba.Pix[y*rgba.Stride:][:4*r.Dx()]
			krow := black[y*bstride:][:r.Dx()]
			for x, k := range krow {
				row[4*x+3] = 255 - k
			}
		}
		return &image.CMYK{Pix: rgba.Pix, Stride: rgba.Stride, Rect: rgba.Rect}, nil
	}
	img := image.NewCMYK(r)
	planes := [4][]byte{d.ycc.Y, d.ycc.Cb, d.ycc.Cr, black}
	strides := [4]int{d.ycc.YStride, d.ycc.CStride, d.ycc.CStride, bstride}
	for c := range 4 {
		// processSOF allows only full components and ones halved both ways.
		half := d.comp[c].h != d.comp[0].h || d.comp[c].v != d.comp[0].v
		for y := 0; y < r.Dy(); y++ {
			sy := y
			if half {
				sy /= 2
			}
			src := planes[c][sy*strides[c]:]
			dst := img.Pix[y*img.Stride+c:]
			for x := 0; x < r.Dx(); x++ {
				sx := x
				if half {
					sx /= 2
				}
				dst[4*x] = 255 - src[sx]
			}
		}
	}
	return img, nil
}

// convertToRGB turns a 3-component image whose components are R, G and B (see
// isRGB) into the opaque *image.RGBA image/jpeg returns, the second and third
// components read through the chroma subsampling the frame declared.
func (d *decoder) convertToRGB() image.Image {
	m := d.ycc
	r := m.Bounds()
	img := image.NewRGBA(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		dst := img.Pix[img.PixOffset(r.Min.X, y):][:4*r.Dx()]
		yo := m.YOffset(r.Min.X, y)
		for i := 0; i < r.Dx(); i++ {
			co := m.COffset(r.Min.X+i, y)
			dst[4*i] = m.Y[yo+i]
			dst[4*i+1] = m.Cb[co]
			dst[4*i+2] = m.Cr[co]
			dst[4*i+3] = 255
		}
	}
	return img
}
