package data

import (
	"bytes"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"github.com/disintegration/imaging"
)

// TestResampleCropMatchesImaging checks resampleCrop against cropping imaging.Resize
// byte for byte, over image types, subsampling ratios, odd bounds, up- and
// downscaling, identity axes and every positive-support filter Preprocess offers.
func TestResampleCropMatchesImaging(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(p []uint8) {
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
	}
	var imgs []image.Image
	for _, r := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411} {
		y := image.NewYCbCr(image.Rect(3, 5, 70, 52), r)
		fill(y.Y)
		fill(y.Cb)
		fill(y.Cr)
		imgs = append(imgs, y, y.SubImage(image.Rect(8, 9, 61, 50)))
	}
	n := image.NewNRGBA(image.Rect(-2, 1, 45, 66))
	fill(n.Pix)
	rgba := image.NewRGBA(image.Rect(0, 0, 33, 40))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(rng.IntN(256))
	}
	for i := 0; i < len(rgba.Pix); i += 4 { // valid premultiplied
		for c := 0; c < 3; c++ {
			rgba.Pix[i+c] = min(rgba.Pix[i+c], rgba.Pix[i+3])
		}
	}
	g := image.NewGray(image.Rect(0, 0, 51, 20))
	fill(g.Pix)
	pal := image.NewPaletted(image.Rect(0, 0, 20, 30), color.Palette{color.Black, color.White, color.NRGBA{10, 200, 30, 128}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.IntN(3))
	}
	imgs = append(imgs, n, rgba, g, pal)
	for _, name := range []string{"bilinear", "bicubic", "lanczos"} {
		f, _ := filterFor(name)
		for ii, img := range imgs {
			b := img.Bounds()
			for _, sz := range [][2]int{{24, 17}, {b.Dx(), 19}, {31, b.Dy()}, {b.Dx(), b.Dy()}, {90, 110}, {5, 300}} {
				w, h := sz[0], sz[1]
				full := imaging.Resize(img, w, h, f)
				for _, win := range []image.Rectangle{image.Rect(0, 0, w, h), image.Rect(w/4, h/3, w/4+w/2, h/3+h/2), image.Rect(w-1, h-1, w, h)} {
					got, release := resampleCrop(img, w, h, f, win)
					want := imaging.Crop(full, win)
					if !bytes.Equal(got.Pix, want.Pix) {
						t.Errorf("%s image %d (%T %v) → %dx%d window %v: differs from imaging", name, ii, img, b, w, h, win)
					}
					release()
				}
			}
		}
	}
}
