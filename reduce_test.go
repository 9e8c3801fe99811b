package autotag

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/testenv"
	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/weights"
)

// bigPhotos returns the shared JPEGs whose shorter side is at least short pixels.
func bigPhotos(t *testing.T, short int) map[string][]byte {
	dir := testenv.SharedData(t)
	var paths []string
	for _, g := range []string{"coco128/images/*/*.jpg", "coco-extra/images/*/*.jpg", "coco-extra/images/*.jpg", "darknet-photos/*.jpg"} {
		m, _ := filepath.Glob(filepath.Join(dir, g))
		paths = append(paths, m...)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(b)); err == nil && min(cfg.Width, cfg.Height) >= short {
			out[filepath.Base(p)] = b
		}
	}
	return out
}

// agreement compares two runs of the model over the same photos.
type agreement struct {
	top1Same  int     // photos whose top class is the same
	top5Same  float64 // mean overlap of the top-5 sets (0-1)
	maxAbs    float64 // mean over photos of the largest |Δp| of any class
	tagJacc   float64 // mean Jaccard index of the selected tag sets (default rules and thresholds)
	worstFile string  // the photo with the largest |Δp|
	worst     float64
	n         int
}

func compareRuns(tg *Tagger, names []string, a, b [][]float32) agreement {
	var ag agreement
	for i := range a {
		if argmax(a[i]) == argmax(b[i]) {
			ag.top1Same++
		}
		ta, tb := topK(a[i], 5), topK(b[i], 5)
		same := 0
		for _, c := range ta {
			if slices.Contains(tb, c) {
				same++
			}
		}
		ag.top5Same += float64(same) / 5
		m := 0.0
		for c := range a[i] {
			m = max(m, math.Abs(float64(a[i][c]-b[i][c])))
		}
		ag.maxAbs += m
		if m > ag.worst {
			ag.worst, ag.worstFile = m, names[i]
		}
		ag.tagJacc += jaccard(tg.Select(a[i], Selection{}), tg.Select(b[i], Selection{}))
	}
	ag.n = len(a)
	ag.top5Same /= float64(ag.n)
	ag.maxAbs /= float64(ag.n)
	ag.tagJacc /= float64(ag.n)
	return ag
}

func argmax(p []float32) int { return topK(p, 1)[0] }

func topK(p []float32, k int) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		switch {
		case p[x] > p[y]:
			return -1
		case p[x] < p[y]:
			return 1
		}
		return 0
	})
	return idx[:k]
}

func jaccard(a, b []Tag) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	inter := 0
	for _, x := range a {
		for _, y := range b {
			if x.Label == y.Label {
				inter++
			}
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// TestReducedDecodeAgreement measures what DecodeOptions.Reduce (WithFastDecode) costs
// in the model's answers. Reduce only applies when the reduced photo is still twice
// the resize target, and the shared photos are at most 1352×900 while the model
// resizes to 256: so the test keeps the ratio and halves the scale, running the Keras
// ResNet50 at 112×112 (resize 128, crop 112) on every shared photo whose shorter side
// is at least 512 (those decode at 1/2, at least 2×128). It compares the
// probabilities after a reduced decode with those after a full decode, beside two
// references: the exact 2×2 box average of the full decode (what a DCT-domain
// halving approximates) and re-encoding the photo as a quality-90 JPEG (what every
// photo service does anyway). It asserts that the reduced decode is no further from
// the full decode than the box average is — the cost is that of downscaling twice,
// not of the DCT shortcut — and that decoding only the crop's source window (For
// without Reduce) changes nothing at all.
func TestReducedDecodeAgreement(t *testing.T) {
	path := testenv.KerasModel(t)
	photos := bigPhotos(t, 512)
	if len(photos) < 10 {
		t.Skipf("only %d shared photos with a shorter side ≥ 512", len(photos))
	}
	ctx := context.Background()
	tg, err := Open(ctx, path) // for its label rules (Select)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	spec := tg.spec
	spec.Resize, spec.Crop = 128, 112
	wm, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := nn.NewResNet50(nn.Config{Layout: nn.Layout(wm.Meta.Layout), BNEps: wm.Meta.BNEps, NumClasses: len(wm.Meta.Classes)})
	if err := m.Bind(wm.Tensors); err != nil {
		t.Fatal(err)
	}
	r, err := m.NewRunner(1, spec.Crop, spec.Crop)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	x := make([]float32, 3*spec.Crop*spec.Crop)
	probs := func(img image.Image) []float32 {
		if err := data.Preprocess(img, spec, x); err != nil {
			t.Fatal(err)
		}
		_, logits, err := r.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		p := slices.Clone(logits)
		nn.Softmax(p, len(p))
		return p
	}
	var names []string
	var pFull, pReduced, pBox, pReencoded [][]float32
	for name, b := range photos {
		names = append(names, name)
		full, err := data.DecodeBytes(b, data.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		region, err := data.DecodeBytes(b, data.DecodeOptions{For: &spec})
		if err != nil {
			t.Fatal(err)
		}
		reduced, err := data.DecodeBytes(b, data.DecodeOptions{For: &spec, Reduce: true})
		if err != nil {
			t.Fatal(err)
		}
		if reduced.Bounds().Dx() >= full.Bounds().Dx() {
			t.Fatalf("%s: reduced decode is %v, full %v", name, reduced.Bounds(), full.Bounds())
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, full, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		reencoded, err := data.DecodeBytes(buf.Bytes(), data.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pf := probs(full)
		if !slices.Equal(probs(region), pf) {
			t.Errorf("%s: decoding only the crop's source window changed the probabilities", name)
		}
		pFull, pReduced = append(pFull, pf), append(pReduced, probs(reduced))
		pBox, pReencoded = append(pBox, probs(box2(full))), append(pReencoded, probs(reencoded))
	}
	red := compareRuns(tg, names, pFull, pReduced)
	box := compareRuns(tg, names, pFull, pBox)
	rec := compareRuns(tg, names, pFull, pReencoded)
	for _, r := range []struct {
		what string
		a    agreement
	}{{"reduced decode (1/2)", red}, {"2×2 box average", box}, {"re-encoded at q90", rec}} {
		t.Logf("%s vs full decode, %d photos at 112×112: top-1 same %d (%.1f %%), top-5 overlap %.3f, tag-set Jaccard %.3f, mean max|Δp| %.4f (worst %.3f, %s)",
			r.what, r.a.n, r.a.top1Same, 100*float64(r.a.top1Same)/float64(r.a.n), r.a.top5Same, r.a.tagJacc, r.a.maxAbs, r.a.worst, r.a.worstFile)
	}
	if red.top1Same < box.top1Same-1 || red.top5Same < box.top5Same-0.02 || red.tagJacc < box.tagJacc-0.02 || red.maxAbs > box.maxAbs*1.15 {
		t.Errorf("the reduced decode moves the model more than an exact 2×2 box average does")
	}
}

// box2 is the exact 2×2 box average of img (a last odd row or column averages what
// it has), rounded to the nearest level.
func box2(img image.Image) image.Image {
	b := img.Bounds()
	w, h := (b.Dx()+1)/2, (b.Dy()+1)/2
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			var sum [3]uint32
			var n uint32
			for dy := range 2 {
				for dx := range 2 {
					px, py := b.Min.X+2*x+dx, b.Min.Y+2*y+dy
					if px < b.Max.X && py < b.Max.Y {
						c := color.NRGBAModel.Convert(img.At(px, py)).(color.NRGBA)
						sum[0], sum[1], sum[2], n = sum[0]+uint32(c.R), sum[1]+uint32(c.G), sum[2]+uint32(c.B), n+1
					}
				}
			}
			i := out.PixOffset(x, y)
			for c := range 3 {
				out.Pix[i+c] = uint8((sum[c] + n/2) / n)
			}
			out.Pix[i+3] = 255
		}
	}
	return out
}
