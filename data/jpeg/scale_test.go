package jpeg

import (
	"bytes"
	"image"
	stdjpeg "image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// refScaledIDCT is the reduced inverse DCT written straight from its definition
// (see idctred.go) in float64: an n×n output from the n×n lowest frequencies of the
// dequantized block b, level-shifted, rounded and clamped.
func refScaledIDCT(b *block, n int) [][]byte {
	out := make([][]byte, n)
	for y := 0; y < n; y++ {
		out[y] = make([]byte, n)
		for x := 0; x < n; x++ {
			sum := 0.0
			for v := 0; v < n; v++ {
				for u := 0; u < n; u++ {
					cu, cv := 1.0, 1.0
					if u == 0 {
						cu = 1 / math.Sqrt2
					}
					if v == 0 {
						cv = 1 / math.Sqrt2
					}
					sum += cu * cv * float64(b[8*v+u]) *
						math.Cos(float64((2*x+1)*u)*math.Pi/float64(2*n)) *
						math.Cos(float64((2*y+1)*v)*math.Pi/float64(2*n))
				}
			}
			out[y][x] = byte(math.Max(0, math.Min(255, math.Round(sum/4+128))))
		}
	}
	return out
}

// TestScaledIDCTMatchesReference compares idct4, idct2 and idct1 with the float64
// definition on random blocks shaped like real ones (large low frequencies, sparse
// small high ones): every sample within ±1.
func TestScaledIDCTMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 3000; trial++ {
		var b block
		var mask uint32
		for k := 0; k < 64; k++ {
			if k > 0 && rng.IntN(64) > 64-k/2-8 || rng.IntN(3) == 0 {
				continue
			}
			limit := 1024 / (1 + k/4)
			b[unzig[k]] = int32(rng.IntN(2*limit+1) - limit)
			mask |= zigMask[k]
		}
		mask |= 1
		for _, n := range []int{4, 2, 1} {
			want := refScaledIDCT(&b, n)
			c := b
			dst := make([]byte, 8*8)
			switch n {
			case 4:
				idct4(&c, mask, dst, 8)
			case 2:
				idct2(&c, mask, dst, 8)
			case 1:
				idct1(&c, mask, dst)
			}
			if c != (block{}) {
				t.Fatalf("idct%d left coefficients behind", n)
			}
			for y := 0; y < n; y++ {
				for x := 0; x < n; x++ {
					if d := int(dst[8*y+x]) - int(want[y][x]); d < -1 || d > 1 {
						t.Fatalf("trial %d, %d×%d, (%d,%d): %d, reference %d", trial, n, n, x, y, dst[8*y+x], want[y][x])
					}
				}
			}
		}
	}
}

// TestFlatBlockKeepsLevel: a DC-only block decodes to its level at every scale.
func TestFlatBlockKeepsLevel(t *testing.T) {
	for _, level := range []int{0, 1, 77, 128, 200, 255} {
		dc := int32(8 * (level - 128))
		for _, n := range []int{8, 4, 2, 1} {
			var b block
			b[0] = dc
			dst := make([]byte, 64)
			switch n {
			case 8:
				idct8(&b, 1, dst, 8)
			case 4:
				idct4(&b, 1, dst, 8)
			case 2:
				idct2(&b, 1, dst, 8)
			case 1:
				idct1(&b, 1, dst)
			}
			for y := 0; y < n; y++ {
				for x := 0; x < n; x++ {
					if int(dst[8*y+x]) != level {
						t.Fatalf("level %d, %d×%d: got %d", level, n, n, dst[8*y+x])
					}
				}
			}
		}
	}
}

// boxAverage averages plane samples over s×s patches of a w×h plane read
// through at(x, y); patches cut by the edge average what they hold.
func boxAverage(at func(x, y int) byte, w, h, s int) func(x, y int) float64 {
	return func(X, Y int) float64 {
		sum, n := 0, 0
		for y := Y * s; y < min(Y*s+s, h); y++ {
			for x := X * s; x < min(X*s+s, w); x++ {
				sum += int(at(x, y))
				n++
			}
		}
		return float64(sum) / float64(n)
	}
}

// planeAt reads one plane of a decoded image: 0 luma (or gray), 1 Cb, in plane
// coordinates, and returns the plane's size; ok is false for a missing plane.
func planeAt(m image.Image, plane int) (at func(x, y int) byte, w, h int, ok bool) {
	switch m := m.(type) {
	case *image.Gray:
		if plane != 0 {
			return nil, 0, 0, false
		}
		return func(x, y int) byte { return m.Pix[y*m.Stride+x] }, m.Rect.Dx(), m.Rect.Dy(), true
	case *image.YCbCr:
		if plane == 0 {
			return func(x, y int) byte { return m.Y[y*m.YStride+x] }, m.Rect.Dx(), m.Rect.Dy(), true
		}
		// Chroma plane size for a (0,0)-based rectangle.
		cw, ch := m.Rect.Dx(), m.Rect.Dy()
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422:
			cw = (cw + 1) / 2
		case image.YCbCrSubsampleRatio420:
			cw, ch = (cw+1)/2, (ch+1)/2
		case image.YCbCrSubsampleRatio440:
			ch = (ch + 1) / 2
		case image.YCbCrSubsampleRatio411:
			cw = (cw + 3) / 4
		case image.YCbCrSubsampleRatio410:
			cw, ch = (cw+3)/4, (ch+1)/2
		}
		return func(x, y int) byte { return m.Cb[y*m.CStride+x] }, cw, ch, true
	}
	return nil, 0, 0, false
}

// scaledError compares one plane of a scaled decode with the box average of the
// same plane of image/jpeg's full decode: mean and max absolute difference in
// levels. Edge samples whose patch the plane cuts are left out (the scaled plane
// rounds its size up, so they stand for a partly padded patch).
func scaledError(t *testing.T, full, got image.Image, s, plane int) (mean, maxd float64, ok bool) {
	fullAt, fw, fh, ok1 := planeAt(full, plane)
	gotAt, _, _, ok2 := planeAt(got, plane)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	avg := boxAverage(fullAt, fw, fh, s)
	sum, n := 0.0, 0
	for y := 0; y < fh/s; y++ {
		for x := 0; x < fw/s; x++ {
			d := math.Abs(float64(gotAt(x, y)) - avg(x, y))
			sum += d
			n++
			maxd = math.Max(maxd, d)
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	return sum / float64(n), maxd, true
}

// TestScaledAgainstBoxAverage measures the scaled decodes against image/jpeg's full
// decode box-averaged over S×S patches, on the real photos, for luma and Cb. The
// reduced IDCT samples the band-limited block rather than averaging it, so the
// difference is not zero; it shrinks as the scale grows. The asserted bounds on the
// corpus mean are 2.5, 2.0 and 0.5 levels, and 12 levels on any one photo's mean,
// each above what the shared photos give; run with -v to see the measured means,
// worst photos and largest samples.
func TestScaledAgainstBoxAverage(t *testing.T) {
	files := corpus(t)
	if testing.Short() {
		files = files[:min(len(files), 20)]
	}
	bound := map[int]float64{2: 2.5, 4: 2.0, 8: 0.5}
	const photoBound = 12
	type stat struct {
		sum, worst, max float64
		n               int
	}
	var stats [9][2]stat
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		full, err := stdjpeg.Decode(bytes.NewReader(data))
		if err != nil {
			continue
		}
		for _, s := range []int{2, 4, 8} {
			got, err := Decode(data, Options{Scale: s})
			if err != nil {
				t.Fatalf("%s Scale %d: %v", f, s, err)
			}
			for plane := 0; plane < 2; plane++ {
				mean, maxd, ok := scaledError(t, full, got, s, plane)
				if !ok {
					continue
				}
				st := &stats[s][plane]
				st.n++
				st.sum += mean
				st.worst = math.Max(st.worst, mean)
				st.max = math.Max(st.max, maxd)
				if mean > photoBound {
					t.Errorf("%s Scale %d plane %d: mean abs difference %.2f levels", f, s, plane, mean)
				}
			}
		}
	}
	for _, s := range []int{2, 4, 8} {
		for plane, name := range []string{"luma", "Cb"} {
			st := stats[s][plane]
			if st.n == 0 {
				continue
			}
			mean := st.sum / float64(st.n)
			t.Logf("Scale %d %s over %d photos: mean abs diff %.3f levels (worst photo %.3f, max sample %.0f)",
				s, name, st.n, mean, st.worst, st.max)
			if mean > bound[s] {
				t.Errorf("Scale %d %s: corpus mean abs difference %.3f > %.1f", s, name, mean, bound[s])
			}
		}
	}
}

// TestScaledDimensions checks ceil(W/S)×ceil(H/S) and the subsampling ratio on the
// odd-sized fixtures at every scale.
func TestScaledDimensions(t *testing.T) {
	fx := fixtures(t)
	for _, name := range sortedNames(fx) {
		full, err := Decode(fx[name], Options{})
		if err != nil {
			continue
		}
		w, h := full.Bounds().Dx(), full.Bounds().Dy()
		for _, s := range []int{1, 2, 4, 8} {
			got, err := Decode(fx[name], Options{Scale: s})
			if err != nil {
				t.Fatalf("%s Scale %d: %v", name, s, err)
			}
			want := image.Rect(0, 0, (w+s-1)/s, (h+s-1)/s)
			if got.Bounds() != want {
				t.Errorf("%s Scale %d: %v, want %v", name, s, got.Bounds(), want)
			}
			if err := sameKind(got, full); err != nil {
				t.Errorf("%s Scale %d: %v", name, s, err)
			}
		}
	}
}

// TestBadScale rejects scales other than 0, 1, 2, 4 and 8.
func TestBadScale(t *testing.T) {
	data := fixtures(t)["s420.jpg"]
	for _, s := range []int{-1, 3, 5, 16} {
		if _, err := Decode(data, Options{Scale: s}); err == nil {
			t.Errorf("Scale %d accepted", s)
		}
	}
}
