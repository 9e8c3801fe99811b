package jpeg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	stdjpeg "image/jpeg"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/autotag/autotag/internal/testenv"
)

// sameImage reports how got differs from want (image/jpeg's output): concrete
// type, rectangle, subsampling ratio and the samples inside the rectangle, compared
// row by row through the planes (strides may differ).
func sameImage(got, want image.Image) error {
	switch w := want.(type) {
	case *image.Gray:
		g, ok := got.(*image.Gray)
		if !ok {
			return fmt.Errorf("type %T, want %T", got, want)
		}
		if g.Rect != w.Rect {
			return fmt.Errorf("rect %v, want %v", g.Rect, w.Rect)
		}
		r := w.Rect
		for y := r.Min.Y; y < r.Max.Y; y++ {
			gr := g.Pix[g.PixOffset(r.Min.X, y):][:r.Dx()]
			wr := w.Pix[w.PixOffset(r.Min.X, y):][:r.Dx()]
			if !bytes.Equal(gr, wr) {
				return fmt.Errorf("gray row %d differs", y)
			}
		}
		return nil
	case *image.YCbCr:
		g, ok := got.(*image.YCbCr)
		if !ok {
			return fmt.Errorf("type %T, want %T", got, want)
		}
		if g.Rect != w.Rect || g.SubsampleRatio != w.SubsampleRatio {
			return fmt.Errorf("rect %v ratio %v, want %v %v", g.Rect, g.SubsampleRatio, w.Rect, w.SubsampleRatio)
		}
		return sameYCbCrIn(g, w, w.Rect)
	case *image.CMYK:
		g, ok := got.(*image.CMYK)
		if !ok {
			return fmt.Errorf("type %T, want %T", got, want)
		}
		return samePix(g.Rect, w.Rect, 4, g.Pix, w.Pix, g.Stride, w.Stride)
	case *image.RGBA:
		g, ok := got.(*image.RGBA)
		if !ok {
			return fmt.Errorf("type %T, want %T", got, want)
		}
		return samePix(g.Rect, w.Rect, 4, g.Pix, w.Pix, g.Stride, w.Stride)
	}
	return fmt.Errorf("image/jpeg returned %T, which Decode never should match", want)
}

// samePix compares two interleaved images of bpp bytes a pixel, row by row.
func samePix(gr, wr image.Rectangle, bpp int, gpix, wpix []byte, gstride, wstride int) error {
	if gr != wr {
		return fmt.Errorf("rect %v, want %v", gr, wr)
	}
	for y := 0; y < wr.Dy(); y++ {
		g := gpix[y*gstride:][:bpp*wr.Dx()]
		w := wpix[y*wstride:][:bpp*wr.Dx()]
		if !bytes.Equal(g, w) {
			for x := range g {
				if g[x] != w[x] {
					return fmt.Errorf("pixel (%d,%d) channel %d: %d, want %d", x/bpp, y, x%bpp, g[x], w[x])
				}
			}
		}
	}
	return nil
}

// sameYCbCrIn compares the Y, Cb and Cr samples that the pixels of r read.
func sameYCbCrIn(g, w *image.YCbCr, r image.Rectangle) error {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			gy, wy := g.Y[g.YOffset(x, y)], w.Y[w.YOffset(x, y)]
			gc, wc := g.COffset(x, y), w.COffset(x, y)
			if gy != wy || g.Cb[gc] != w.Cb[wc] || g.Cr[gc] != w.Cr[wc] {
				return fmt.Errorf("pixel (%d,%d): YCbCr %d,%d,%d want %d,%d,%d", x, y,
					gy, g.Cb[gc], g.Cr[gc], wy, w.Cb[wc], w.Cr[wc])
			}
		}
	}
	return nil
}

// sameGrayIn compares the gray samples inside r.
func sameGrayIn(g, w *image.Gray, r image.Rectangle) error {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		gr := g.Pix[g.PixOffset(r.Min.X, y):][:r.Dx()]
		wr := w.Pix[w.PixOffset(r.Min.X, y):][:r.Dx()]
		if !bytes.Equal(gr, wr) {
			return fmt.Errorf("gray row %d differs inside %v", y, r)
		}
	}
	return nil
}

// stdDecode runs image/jpeg, turning a panic into an error (it has had a few on
// malformed input; Decode must reject those inputs too).
func stdDecode(data []byte) (img image.Image, err error) {
	defer func() {
		if v := recover(); v != nil {
			img, err = nil, fmt.Errorf("image/jpeg panicked: %v", v)
		}
	}()
	return stdjpeg.Decode(bytes.NewReader(data))
}

// differential checks the exactness contract for one input at Scale 1: when
// image/jpeg fails, Decode fails; when it succeeds, Decode matches, returns
// or refuses a file over the work limits (ErrLimit).
func differential(data []byte) error {
	want, werr := stdDecode(data)
	got, gerr := Decode(data, Options{})
	switch {
	case werr != nil && gerr == nil:
		return fmt.Errorf("image/jpeg fails (%v) but Decode succeeds", werr)
	case werr != nil:
		return nil
	case gerr != nil:
		if errors.Is(gerr, ErrUnsupported) {
			// Decode takes every colour model image/jpeg returns.
			return fmt.Errorf("unsupported (%v) for an image image/jpeg returns as %T", gerr, want)
		}
		if errors.Is(gerr, ErrLimit) {
			// The work limits are the one documented departure: image/jpeg has none.
			return nil
		}
		return fmt.Errorf("Decode fails (%v) but image/jpeg succeeds", gerr)
	}
	return sameImage(got, want)
}

// corpus lists the shared photos, skipping t when they are absent.
func corpus(t testing.TB) []string {
	t.Helper()
	files := corpusFiles()
	if len(files) == 0 {
		t.Skip("../shared/data photos are absent; skipping the photo corpus")
	}
	return files
}

// corpusFiles lists every *.jpg of the shared photo sets, or nil without them.
func corpusFiles() []string {
	dir := testenv.SharedDataDir()
	if dir == "" {
		return nil
	}
	var files []string
	for _, sub := range []string{"coco128", "coco-extra", "darknet-photos"} {
		root := filepath.Join(dir, sub)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(strings.ToLower(p), ".jpg") {
				files = append(files, p)
			}
			return nil
		})
	}
	sort.Strings(files)
	return files
}

func TestCorpusMatchesStdlib(t *testing.T) {
	files := corpus(t)
	if testing.Short() {
		files = files[:min(len(files), 40)]
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := differential(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestColourModelsMatchStdlib: every fixture with an Adobe segment (YCCK and RGB
// as written) decodes
// as image/jpeg decodes it at Scale 1, and so does each with its Adobe transform
// patched to 0 (CMYK), to 1 (also YCCK for image/jpeg) and with the Adobe segment
// hidden (an error for both with four components; RGB still, by its component
// identifiers, with three); the scaled and region decodes keep the type.
func TestColourModelsMatchStdlib(t *testing.T) {
	fx := fixtures(t)
	n := 0
	for _, name := range sortedNames(fx) {
		data := fx[name]
		i := bytes.Index(data, []byte("Adobe"))
		if i < 0 || i < 4 {
			continue
		}
		n++
		d := newDecoder(data, Options{})
		d.decode()
		nComp := d.nComp
		variants := map[string][]byte{"as written": data}
		for _, tr := range []byte{0, 1, 2} {
			v := bytes.Clone(data)
			v[i+11] = tr
			variants[fmt.Sprintf("transform %d", tr)] = v
		}
		hidden := bytes.Clone(data)
		hidden[i-3] = 0xed // APP13 instead of APP14
		variants["no Adobe"] = hidden
		for vname, v := range variants {
			if err := differential(v); err != nil {
				t.Errorf("%s, %s: %v", name, vname, err)
			}
			full, err := Decode(v, Options{})
			if vname == "no Adobe" && nComp == 4 {
				if err == nil || errors.Is(err, ErrUnsupported) {
					t.Errorf("%s, %s: %v, want an error that is not ErrUnsupported", name, vname, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s, %s: %v", name, vname, err)
				continue
			}
			want := map[bool]string{true: "*image.CMYK", false: "*image.RGBA"}[nComp == 4]
			if got := fmt.Sprintf("%T", full); got != want {
				t.Errorf("%s, %s: %s, want %s", name, vname, got, want)
			}
			for _, scale := range []int{2, 4, 8} {
				got, err := Decode(v, Options{Scale: scale, Region: image.Rect(3, 2, 20, 15)})
				if err != nil {
					t.Fatalf("%s, %s, Scale %d: %v", name, vname, scale, err)
				}
				if err := sameKind(got, full); err != nil {
					t.Errorf("%s, %s, Scale %d: %v", name, vname, scale, err)
				}
			}
		}
	}
	if n < 8 {
		t.Fatalf("only %d fixtures with an Adobe segment (testdata/gen.sh makes them)", n)
	}
}
