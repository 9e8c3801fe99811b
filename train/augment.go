package train

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/disintegration/imaging"
)

// AugmentParams are the training-view augmentations of the feature cache:
// RandomResizedCrop (Szegedy et al. 2015, "Going deeper with convolutions", as in
// torchvision.transforms.RandomResizedCrop) and a horizontal flip. Crops keep at
// least MinScale of the image area, larger than torchvision's 0.08 default because a
// multi-label image's small objects would otherwise be cropped out while their labels
// stay.
type AugmentParams struct {
	MinScale, MaxScale float64 // area fraction of the crop
	MinRatio, MaxRatio float64 // aspect ratio w/h of the crop (log-uniform)
	FlipProb           float64
}

// DefaultAugment: scale [0.35, 1], ratio [3/4, 4/3], flip with probability ½.
func DefaultAugment() AugmentParams {
	return AugmentParams{MinScale: 0.35, MaxScale: 1, MinRatio: 3.0 / 4, MaxRatio: 4.0 / 3, FlipProb: 0.5}
}

// Apply returns an out×out augmented view of img, determined by seed.
func (a AugmentParams) Apply(img image.Image, out int, seed uint64) (image.Image, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("augment: empty image")
	}
	rng := rand.New(rand.NewPCG(seed, 0x617567)) // "aug"
	area := float64(w * h)
	cw, ch := w, h
	found := false
	// torchvision's RandomResizedCrop.get_params: 10 tries, then a centre crop
	for try := 0; try < 10 && !found; try++ {
		s := area * (a.MinScale + rng.Float64()*(a.MaxScale-a.MinScale))
		r := math.Exp(math.Log(a.MinRatio) + rng.Float64()*(math.Log(a.MaxRatio)-math.Log(a.MinRatio)))
		tw := int(math.Round(math.Sqrt(s * r)))
		th := int(math.Round(math.Sqrt(s / r)))
		if tw > 0 && th > 0 && tw <= w && th <= h {
			cw, ch, found = tw, th, true
		}
	}
	var x0, y0 int
	if found {
		x0 = rng.IntN(w - cw + 1)
		y0 = rng.IntN(h - ch + 1)
	} else {
		// fall back to the largest centre crop within the ratio range
		ratio := float64(w) / float64(h)
		switch {
		case ratio < a.MinRatio:
			cw, ch = w, int(math.Round(float64(w)/a.MinRatio))
		case ratio > a.MaxRatio:
			cw, ch = int(math.Round(float64(h)*a.MaxRatio)), h
		}
		x0, y0 = (w-cw)/2, (h-ch)/2
	}
	crop := imaging.Crop(img, image.Rect(b.Min.X+x0, b.Min.Y+y0, b.Min.X+x0+cw, b.Min.Y+y0+ch))
	res := imaging.Resize(crop, out, out, imaging.Linear)
	if rng.Float64() < a.FlipProb {
		res = imaging.FlipH(res)
	}
	return res, nil
}

// squash resizes img to size×size ignoring its aspect ratio (the original recipe's
// preprocessing; kept only to replicate it).
func squash(img image.Image, size int) image.Image {
	return imaging.Resize(img, size, size, imaging.Linear)
}
