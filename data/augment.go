package data

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/disintegration/imaging"
)

// Augment is the training-time image transform: RandomResizedCrop (Szegedy et al.
// 2015, "Going deeper with convolutions"; torchvision.transforms.RandomResizedCrop),
// a horizontal flip and colour jitter (brightness, contrast, saturation, applied in
// that fixed order). Every random choice is drawn from a generator seeded by (seed,
// epoch, index), so an epoch's batches are reproducible byte for byte and each epoch
// sees different crops. The evaluation transform is Preprocess (resize the shorter
// side, centre crop): never a squash.
type Augment struct {
	Size          int        // output side, pixels (the model's Spec.Crop)
	Scale         [2]float64 // crop area as a fraction of the image, [lo, hi]
	Ratio         [2]float64 // crop aspect ratio w/h, [lo, hi]
	FlipProb      float64    // probability of a horizontal flip
	Brightness    float64    // brightness factor drawn from [1-b, 1+b]
	Contrast      float64    // contrast factor from [1-c, 1+c]
	Saturation    float64    // saturation factor from [1-s, 1+s]
	Interpolation string     // resize filter, as Spec.Interpolation
}

// DefaultAugment is a multi-label-friendly default for output size: crops keep at
// least 30% of the image (torchvision's 8% would often cut the labelled objects
// out), aspect 3/4-4/3, flips half the time, ±20% brightness, contrast, saturation.
func DefaultAugment(size int) Augment {
	return Augment{Size: size, Scale: [2]float64{0.3, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3},
		FlipProb: 0.5, Brightness: 0.2, Contrast: 0.2, Saturation: 0.2, Interpolation: "bilinear"}
}

// Validate reports whether the augmentation can be applied.
func (a Augment) Validate() error {
	switch {
	case a.Size <= 0:
		return fmt.Errorf("augment: size %d", a.Size)
	case !(a.Scale[0] > 0 && a.Scale[0] <= a.Scale[1] && a.Scale[1] <= 1):
		return fmt.Errorf("augment: scale %v not within (0, 1]", a.Scale)
	case !(a.Ratio[0] > 0 && a.Ratio[0] <= a.Ratio[1]):
		return fmt.Errorf("augment: ratio %v", a.Ratio)
	case a.FlipProb < 0 || a.FlipProb > 1 || a.Brightness < 0 || a.Contrast < 0 || a.Saturation < 0:
		return fmt.Errorf("augment: negative strength or flip probability outside [0, 1]")
	}
	_, err := filterFor(a.Interpolation)
	return err
}

// AugmentRand is the generator for one (seed, epoch, index) draw.
func AugmentRand(seed uint64, epoch, index int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(epoch)*0x9E3779B97F4A7C15^uint64(index)))
}

// CropRect draws a RandomResizedCrop window for a w×h image exactly as torchvision's
// RandomResizedCrop.get_params: up to ten tries of an area fraction from Scale and a
// log-uniform aspect from Ratio; if none fits, the largest centred crop whose aspect is
// within Ratio.
func (a Augment) CropRect(w, h int, r *rand.Rand) image.Rectangle {
	area := float64(w * h)
	lr0, lr1 := math.Log(a.Ratio[0]), math.Log(a.Ratio[1])
	for try := 0; try < 10; try++ {
		target := area * (a.Scale[0] + r.Float64()*(a.Scale[1]-a.Scale[0]))
		aspect := math.Exp(lr0 + r.Float64()*(lr1-lr0))
		cw := int(math.Round(math.Sqrt(target * aspect)))
		ch := int(math.Round(math.Sqrt(target / aspect)))
		if cw > 0 && cw <= w && ch > 0 && ch <= h {
			y := r.IntN(h - ch + 1)
			x := r.IntN(w - cw + 1)
			return image.Rect(x, y, x+cw, y+ch)
		}
	}
	in := float64(w) / float64(h)
	cw, ch := w, h
	if in < a.Ratio[0] {
		ch = int(math.Round(float64(cw) / a.Ratio[0]))
	} else if in > a.Ratio[1] {
		cw = int(math.Round(float64(ch) * a.Ratio[1]))
	}
	cw, ch = max(1, min(cw, w)), max(1, min(ch, h))
	x, y := (w-cw)/2, (h-ch)/2
	return image.Rect(x, y, x+cw, y+ch)
}

// Apply returns the augmented Size×Size image for draw (seed, epoch, index).
func (a Augment) Apply(img image.Image, seed uint64, epoch, index int) (*image.NRGBA, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("augment: empty image")
	}
	r := AugmentRand(seed, epoch, index)
	crop := a.CropRect(b.Dx(), b.Dy(), r).Add(b.Min)
	flip := r.Float64() < a.FlipProb
	bf := jitterFactor(r, a.Brightness)
	cf := jitterFactor(r, a.Contrast)
	sf := jitterFactor(r, a.Saturation)
	f, _ := filterFor(a.Interpolation)
	out, err := guard("augment", func() (*image.NRGBA, error) {
		return imaging.Resize(imaging.Crop(img, crop), a.Size, a.Size, f), nil
	})
	if err != nil {
		return nil, err
	}
	if flip {
		flipInPlace(out)
	}
	colorJitter(out, bf, cf, sf)
	return out, nil
}

// ApplyTensor augments img and writes it normalised as spec says (colour order, scale,
// mean, std) into dst, 3·Size·Size floats, CHW.
func (a Augment) ApplyTensor(img image.Image, spec Spec, seed uint64, epoch, index int, dst []float32) error {
	n := 3 * a.Size * a.Size
	if len(dst) < n {
		return fmt.Errorf("augment: dst holds %d floats, need %d", len(dst), n)
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	out, err := a.Apply(img, seed, epoch, index)
	if err != nil {
		return err
	}
	writeCHW(out, image.Point{}, a.Size, spec.Color == "bgr", newChannelLUT(spec), dst[:n])
	return nil
}

// jitterFactor draws a factor from [max(0, 1-s), 1+s]; it always consumes one draw so
// that the sequence does not depend on which strengths are zero.
func jitterFactor(r *rand.Rand, s float64) float64 {
	u := r.Float64()
	if s == 0 {
		return 1
	}
	lo := max(0, 1-s)
	return lo + u*(1+s-lo)
}

func flipInPlace(img *image.NRGBA) {
	w := img.Rect.Dx()
	for y := 0; y < img.Rect.Dy(); y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			var t [4]uint8
			copy(t[:], row[4*i:4*i+4])
			copy(row[4*i:4*i+4], row[4*j:4*j+4])
			copy(row[4*j:4*j+4], t[:])
		}
	}
}

// colorJitter scales brightness by bf, blends with the mean grey by cf (contrast) and
// with each pixel's grey by sf (saturation), as torchvision's adjust_brightness,
// adjust_contrast and adjust_saturation, clamping after each step.
func colorJitter(img *image.NRGBA, bf, cf, sf float64) {
	if bf == 1 && cf == 1 && sf == 1 {
		return
	}
	// Brightness is a per-value map: a table.
	var bright [256]float32
	for v := range bright {
		bright[v] = clamp255(float32(v) * float32(bf))
	}
	n := img.Rect.Dx() * img.Rect.Dy()
	pix := img.Pix[:4*n]
	var mean float32
	if cf != 1 {
		var sum float64
		for i := 0; i < len(pix); i += 4 {
			sum += float64(0.299*bright[pix[i]] + 0.587*bright[pix[i+1]] + 0.114*bright[pix[i+2]])
		}
		mean = float32(sum / float64(n))
	}
	c, cm := float32(cf), float32(1-cf)*mean
	s, s1 := float32(sf), float32(1-sf)
	for i := 0; i < len(pix); i += 4 {
		r := clamp255(c*bright[pix[i]] + cm)
		g := clamp255(c*bright[pix[i+1]] + cm)
		b := clamp255(c*bright[pix[i+2]] + cm)
		grey := s1 * (0.299*r + 0.587*g + 0.114*b)
		pix[i] = uint8(clamp255(s*r+grey) + 0.5)
		pix[i+1] = uint8(clamp255(s*g+grey) + 0.5)
		pix[i+2] = uint8(clamp255(s*b+grey) + 0.5)
	}
}

func clamp255(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return v
}
