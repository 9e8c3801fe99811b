package data

import (
	"bufio"
	"cmp"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Synthetic shapes and colours: class k is SyntheticColors[k%3] + " " +
// SyntheticShapes[k/3], e.g. "red circle".
var (
	SyntheticShapes = []string{"circle", "square", "triangle", "ring"}
	SyntheticColors = []string{"red", "green", "blue"}
)

// syntheticRGB are the base colours of SyntheticColors.
var syntheticRGB = [][3]float64{{220, 40, 40}, {40, 190, 60}, {50, 70, 220}}

// SyntheticSet is a generated multi-label dataset held in memory.
type SyntheticSet struct {
	Images  []*image.NRGBA
	Labels  [][]int // sorted class ids per image; empty = all-negative
	Classes []string
}

// SyntheticClasses are the names of the synthetic classes (shape × colour).
func SyntheticClasses() []string {
	var c []string
	for _, s := range SyntheticShapes {
		for _, col := range SyntheticColors {
			c = append(c, col+" "+s)
		}
	}
	return c
}

// Synthetic generates n size×size images of 0-3 coloured shapes on textured
// backgrounds (noise, stripes, a gradient in muted colours), labelled with the set of
// shape×colour classes drawn. Image i depends only on (seed, i), so sets of different
// n share their prefix. About one image in ten is all-negative. It is for offline
// tests and demos: learnable in a few epochs on frozen features, with real
// multi-label structure (co-occurrence, varying counts, occlusion).
func Synthetic(n, size int, seed uint64) *SyntheticSet {
	s := &SyntheticSet{Classes: SyntheticClasses(), Images: make([]*image.NRGBA, n), Labels: make([][]int, n)}
	for i := 0; i < n; i++ {
		s.Images[i], s.Labels[i] = syntheticImage(size, rand.New(rand.NewPCG(seed, uint64(i))))
	}
	return s
}

func syntheticImage(size int, r *rand.Rand) (*image.NRGBA, []int) {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	// Background: a muted base colour, a gradient, stripes at a random angle, noise.
	base := [3]float64{90 + 80*r.Float64(), 90 + 80*r.Float64(), 90 + 80*r.Float64()}
	grad := [3]float64{r.Float64()*60 - 30, r.Float64()*60 - 30, r.Float64()*60 - 30}
	theta := r.Float64() * math.Pi
	freq := (2 + 8*r.Float64()) * 2 * math.Pi / float64(size)
	amp := 5 + 20*r.Float64()
	ct, st := math.Cos(theta), math.Sin(theta)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			t := float64(y) / float64(size)
			stripe := amp * math.Sin(freq*(ct*float64(x)+st*float64(y)))
			o := img.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				img.Pix[o+c] = clamp8(base[c] + grad[c]*t + stripe + r.NormFloat64()*8)
			}
			img.Pix[o+3] = 255
		}
	}
	k := 0
	if r.Float64() >= 0.1 {
		k = 1 + r.IntN(3)
	}
	type shapeSpec struct {
		cls         int
		cx, cy, rad float64
		tint        [3]float64
	}
	shapes := make([]shapeSpec, k)
	for j := range shapes {
		cls := r.IntN(len(SyntheticShapes) * len(SyntheticColors))
		rad := float64(size) * (0.1 + 0.12*r.Float64())
		sh := shapeSpec{cls: cls, rad: rad,
			cx: rad + r.Float64()*(float64(size)-2*rad), cy: rad + r.Float64()*(float64(size)-2*rad)}
		for c := range sh.tint {
			sh.tint[c] = clampF(syntheticRGB[cls%len(SyntheticColors)][c] + r.NormFloat64()*12)
		}
		shapes[j] = sh
	}
	// Largest first, so a smaller shape is never hidden under a bigger one.
	slices.SortStableFunc(shapes, func(a, b shapeSpec) int { return cmp.Compare(b.rad, a.rad) })
	var labels []int
	for _, sh := range shapes {
		drawShape(img, sh.cls/len(SyntheticColors), sh.cx, sh.cy, sh.rad, sh.tint, r)
		labels = append(labels, sh.cls)
	}
	return img, normLabels(labels)
}

// drawShape paints one filled shape with light per-pixel noise.
func drawShape(img *image.NRGBA, shape int, cx, cy, rad float64, rgb [3]float64, r *rand.Rand) {
	b := img.Bounds()
	x0, x1 := max(b.Min.X, int(cx-rad)-1), min(b.Max.X, int(cx+rad)+2)
	y0, y1 := max(b.Min.Y, int(cy-rad)-1), min(b.Max.Y, int(cy+rad)+2)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			var in bool
			switch SyntheticShapes[shape] {
			case "circle":
				in = dx*dx+dy*dy <= rad*rad
			case "square":
				in = math.Abs(dx) <= rad*0.85 && math.Abs(dy) <= rad*0.85
			case "triangle": // apex up, base at the bottom
				h := (dy + rad) / (2 * rad) // 0 at the apex, 1 at the base
				in = h >= 0 && h <= 1 && math.Abs(dx) <= h*rad
			case "ring":
				d := dx*dx + dy*dy
				in = d <= rad*rad && d >= 0.36*rad*rad
			}
			if in {
				o := img.PixOffset(x, y)
				for c := 0; c < 3; c++ {
					img.Pix[o+c] = clamp8(rgb[c] + r.NormFloat64()*5)
				}
			}
		}
	}
}

func clampF(v float64) float64 { return math.Max(0, math.Min(255, v)) }

func clamp8(v float64) uint8 { return uint8(clampF(v) + 0.5) }

// WriteCSV writes the set as a csv: dataset under dir — images/NNNNN.jpg (JPEG
// quality 92), labels.csv (file,tags) and names.txt (the class order) — and returns
// its SPEC, "csv:DIR/labels.csv:DIR/images:DIR/names.txt", ready for Load.
func (s *SyntheticSet) WriteCSV(dir string) (string, error) {
	imgDir := filepath.Join(dir, "images")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return "", fmt.Errorf("synthetic dataset: %w", err)
	}
	var csv strings.Builder
	csv.WriteString("file,tags\n")
	for i, img := range s.Images {
		name := fmt.Sprintf("%05d.jpg", i)
		if err := writeJPEG(filepath.Join(imgDir, name), img, 92); err != nil {
			return "", err
		}
		var tags []string
		for _, c := range s.Labels[i] {
			tags = append(tags, s.Classes[c])
		}
		fmt.Fprintf(&csv, "%s,%s\n", name, strings.Join(tags, ";"))
	}
	labels, names := filepath.Join(dir, "labels.csv"), filepath.Join(dir, "names.txt")
	if err := os.WriteFile(labels, []byte(csv.String()), 0o644); err != nil {
		return "", fmt.Errorf("synthetic dataset: %w", err)
	}
	if err := os.WriteFile(names, []byte(strings.Join(s.Classes, "\n")+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("synthetic dataset: %w", err)
	}
	return "csv:" + labels + ":" + imgDir + ":" + names, nil
}

// writeJPEG encodes img to path.
func writeJPEG(path string, img image.Image, quality int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = jpeg.Encode(w, img, &jpeg.Options{Quality: quality})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
