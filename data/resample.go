package data

import (
	"image"
	"math"
	"sync"

	"github.com/disintegration/imaging"
)

// This file computes a window of imaging.Resize(img, w, h, filter) — the centre crop
// Preprocess keeps — without resampling the rest of the image. It is imaging v1.6.2's
// separable resize (resize.go: precomputeWeights, resizeHorizontal, resizeVertical,
// clamp; scanner.go for the YCbCr→RGB conversion) restricted to the output rows and
// columns of the window and the source rows and columns they read. Every kept output
// byte is the same float64 arithmetic in the same order, so the result is the same
// bit for bit as cropping the full resize; TestResampleCropMatchesImaging checks it.
// Unlike imaging it runs on the calling goroutine (the server and the tagger already
// decode and preprocess several images at once) and reuses its buffers.

// tap is one source sample and its weight in an output sample (imaging's indexWeight).
type tap struct {
	index  int
	weight float64
}

// resampleTaps is imaging's precomputeWeights for the outputs [v0, v1) of a
// srcSize→dstSize resize only: the same kernel arguments, the same sums and divisions.
func resampleTaps(dstSize, srcSize int, f imaging.ResampleFilter, v0, v1 int, buf []tap) ([][]tap, []tap) {
	du := float64(srcSize) / float64(dstSize)
	scale := du
	if scale < 1.0 {
		scale = 1.0
	}
	ru := math.Ceil(scale * f.Support)
	ends := make([]int, 0, v1-v0)
	buf = buf[:0]
	for v := v0; v < v1; v++ {
		fu := (float64(v)+0.5)*du - 0.5
		begin := max(int(math.Ceil(fu-ru)), 0)
		end := min(int(math.Floor(fu+ru)), srcSize-1)
		start := len(buf)
		var sum float64
		for u := begin; u <= end; u++ {
			w := f.Kernel((float64(u) - fu) / scale)
			if w != 0 {
				sum += w
				buf = append(buf, tap{index: u, weight: w})
			}
		}
		if sum != 0 {
			for i := start; i < len(buf); i++ {
				buf[i].weight /= sum
			}
		}
		ends = append(ends, len(buf))
	}
	out := make([][]tap, v1-v0)
	start := 0
	for i, e := range ends {
		out[i] = buf[start:e:e]
		start = e
	}
	return out, buf
}

// tapSpan is the range [lo, hi) of source samples the taps read (lo ≥ hi when none).
func tapSpan(taps [][]tap, size int) (lo, hi int) {
	lo = size
	for _, t := range taps {
		if len(t) > 0 {
			lo = min(lo, t[0].index)
			hi = max(hi, t[len(t)-1].index+1)
		}
	}
	return lo, hi
}

// roundClamp is imaging's clamp: round half up and saturate to a byte.
func roundClamp(x float64) uint8 {
	v := int64(x + 0.5)
	if v > 255 {
		return 255
	}
	if v > 0 {
		return uint8(v)
	}
	return 0
}

// rowSource yields rows of an image as NRGBA bytes, converting exactly as imaging's
// scanner does. Coordinates are relative to the image's bounds.
type rowSource struct {
	ycc  *image.YCbCr
	nrgb *image.NRGBA // NRGBA pixels, at origin off (relative coordinates)
	off  image.Point
}

// newRowSource reads YCbCr (the JPEG decoder's output, for the subsampling ratios
// imaging's scanner handles directly) and NRGBA images in place; anything else is
// first converted by imaging.Crop of the rectangle need (relative coordinates), which
// uses the same scanner.
func newRowSource(img image.Image, need image.Rectangle) rowSource {
	switch im := img.(type) {
	case *image.YCbCr:
		switch im.SubsampleRatio {
		case image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
			image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440:
			return rowSource{ycc: im}
		}
	case *image.NRGBA:
		return rowSource{nrgb: im}
	}
	b := img.Bounds()
	return rowSource{nrgb: imaging.Crop(img, need.Add(b.Min)), off: need.Min}
}

// scan writes the pixels [x1, x2) of row y as NRGBA bytes into dst.
func (s rowSource) scan(y, x1, x2 int, dst []uint8) {
	if s.nrgb != nil {
		im := s.nrgb
		i := (y-s.off.Y)*im.Stride + (x1-s.off.X)*4
		copy(dst[:(x2-x1)*4], im.Pix[i:i+(x2-x1)*4])
		return
	}
	img := s.ycc
	// imaging's scanner.scan, case *image.YCbCr, for one row.
	x1 += img.Rect.Min.X
	x2 += img.Rect.Min.X
	y += img.Rect.Min.Y
	hy := img.Rect.Min.Y / 2
	hx := img.Rect.Min.X / 2
	iy := (y-img.Rect.Min.Y)*img.YStride + (x1 - img.Rect.Min.X)
	var yBase int
	halfX := false
	switch img.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		yBase = (y - img.Rect.Min.Y) * img.CStride
	case image.YCbCrSubsampleRatio422:
		yBase = (y - img.Rect.Min.Y) * img.CStride
		halfX = true
	case image.YCbCrSubsampleRatio420:
		yBase = (y/2 - hy) * img.CStride
		halfX = true
	case image.YCbCrSubsampleRatio440:
		yBase = (y/2 - hy) * img.CStride
	}
	ys := img.Y[iy : iy+(x2-x1)]
	dst = dst[:(x2-x1)*4]
	for k := 0; k < len(ys); {
		x := x1 + k
		var ic int
		if halfX {
			ic = yBase + (x/2 - hx)
		} else {
			ic = yBase + (x - img.Rect.Min.X)
		}
		// The chroma terms of imaging's conversion, once per chroma sample: with
		// horizontal subsampling the next pixel often shares it.
		cb1 := int32(img.Cb[ic]) - 128
		cr1 := int32(img.Cr[ic]) - 128
		rc, gc, bc := 91881*cr1, -22554*cb1-46802*cr1, 116130*cb1
		yy := int32(ys[k]) * 0x10101
		d := dst[k*4 : k*4+4 : k*4+4]
		d[0], d[1], d[2], d[3] = ycc8(yy+rc), ycc8(yy+gc), ycc8(yy+bc), 0xff
		k++
		if halfX && k < len(ys) && (x+1)/2 == x/2 {
			yy := int32(ys[k]) * 0x10101
			d := dst[k*4 : k*4+4 : k*4+4]
			d[0], d[1], d[2], d[3] = ycc8(yy+rc), ycc8(yy+gc), ycc8(yy+bc), 0xff
			k++
		}
	}
}

// ycc8 is the last step of imaging's YCbCr conversion (image/color's YCbCrToRGB):
// v = Y·0x10101 + a chroma term — rc = 91881·Cr', gc = −22554·Cb' − 46802·Cr' or
// bc = 116130·Cb' with Cb' = Cb − 128, Cr' = Cr − 128 — shifted to a byte, saturated.
func ycc8(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// resampleBufs are the scratch buffers of one resampleCrop call, pooled.
type resampleBufs struct {
	line  []uint8
	line2 []uint8
	mid   []uint8
	acc   []float64
	taps  []tap
	taps2 []tap
	taws  []tap
	out   image.NRGBA
}

var resamplePool = sync.Pool{New: func() any { return new(resampleBufs) }}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// resampleCrop returns the window win (in output coordinates) of
// imaging.Resize(img, w, h, f) for a filter with positive support, bit for bit. The
// returned image is valid until release is called.
func resampleCrop(img image.Image, w, h int, f imaging.ResampleFilter, win image.Rectangle) (out *image.NRGBA, release func()) {
	bf := resamplePool.Get().(*resampleBufs)
	release = func() { resamplePool.Put(bf) }
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	cw, ch := win.Dx(), win.Dy()
	hx, vy := sw != w, sh != h // whether imaging runs the horizontal / vertical pass

	var xt, yt [][]tap
	need := win // source pixels read
	if hx {
		xt, bf.taps = resampleTaps(w, sw, f, win.Min.X, win.Max.X, bf.taps)
		need.Min.X, need.Max.X = tapSpan(xt, sw)
	}
	if vy {
		yt, bf.taps2 = resampleTaps(h, sh, f, win.Min.Y, win.Max.Y, bf.taps2)
		need.Min.Y, need.Max.Y = tapSpan(yt, sh)
	}
	if need.Empty() {
		need = image.Rect(0, 0, 1, 1) // all-zero taps: imaging leaves zero pixels
	}
	src := newRowSource(img, need)
	// An opaque source (YCbCr) in a horizontal pass: precompute each tap's
	// float64(255)·weight (imaging's aw), its byte offset in the scanned line, and
	// 1/Σaw per column, the same values imaging computes per pixel.
	opaque := hx && src.ycc != nil
	var xaw [][]tap
	var xinv []float64
	if opaque {
		xaw = make([][]tap, len(xt))
		xinv = make([]float64, len(xt))
		bf.taws = grow(bf.taws, len(bf.taps))
		k := 0
		for x, taps := range xt {
			var aa float64
			start := k
			for _, t := range taps {
				aw := float64(uint8(255)) * t.weight
				aa += aw
				bf.taws[k] = tap{index: (t.index - need.Min.X) * 4, weight: aw}
				k++
			}
			xaw[x] = bf.taws[start:k:k]
			if aa == 0 || roundClamp(aa) != 255 {
				opaque = false // imaging would leave a zero or translucent pixel: take the general path
			}
			xinv[x] = 1 / aa
		}
	}

	// Horizontal pass over the source rows in need: mid holds cw pixels per row.
	rows := need.Dy()
	bf.mid = grow(bf.mid, rows*cw*4)
	bf.line = grow(bf.line, need.Dx()*4)
	line := bf.line
	r0 := 0
	if opaque {
		// Two rows at a time: the same taps on both, six independent sums in flight
		// instead of three (each row's arithmetic is unchanged).
		bf.line2 = grow(bf.line2, need.Dx()*4)
		line2 := bf.line2
		for ; r0+1 < rows; r0 += 2 {
			src.scan(need.Min.Y+r0, need.Min.X, need.Max.X, line)
			src.scan(need.Min.Y+r0+1, need.Min.X, need.Max.X, line2)
			m := bf.mid[r0*cw*4 : (r0+1)*cw*4]
			m2 := bf.mid[(r0+1)*cw*4 : (r0+2)*cw*4]
			for x, taps := range xaw {
				var rr, gg, bb, rr2, gg2, bb2 float64
				for _, t := range taps {
					s := line[t.index : t.index+3 : t.index+3]
					s2 := line2[t.index : t.index+3 : t.index+3]
					rr += float64(s[0]) * t.weight
					gg += float64(s[1]) * t.weight
					bb += float64(s[2]) * t.weight
					rr2 += float64(s2[0]) * t.weight
					gg2 += float64(s2[1]) * t.weight
					bb2 += float64(s2[2]) * t.weight
				}
				aInv := xinv[x]
				d := m[x*4 : x*4+4 : x*4+4]
				d[0], d[1], d[2], d[3] = roundClamp(rr*aInv), roundClamp(gg*aInv), roundClamp(bb*aInv), 255
				d2 := m2[x*4 : x*4+4 : x*4+4]
				d2[0], d2[1], d2[2], d2[3] = roundClamp(rr2*aInv), roundClamp(gg2*aInv), roundClamp(bb2*aInv), 255
			}
		}
	}
	for r := r0; r < rows; r++ {
		src.scan(need.Min.Y+r, need.Min.X, need.Max.X, line)
		m := bf.mid[r*cw*4 : (r+1)*cw*4]
		if !hx {
			copy(m, line)
			continue
		}
		if opaque {
			// Every source alpha is 255: aw and the alpha sum are per-column constants.
			for x, taps := range xaw {
				var rr, gg, bb float64
				for _, t := range taps {
					s := line[t.index : t.index+3 : t.index+3]
					rr += float64(s[0]) * t.weight
					gg += float64(s[1]) * t.weight
					bb += float64(s[2]) * t.weight
				}
				aInv := xinv[x]
				d := m[x*4 : x*4+4 : x*4+4]
				d[0] = roundClamp(rr * aInv)
				d[1] = roundClamp(gg * aInv)
				d[2] = roundClamp(bb * aInv)
				d[3] = 255
			}
			continue
		}
		for x, taps := range xt {
			var rr, gg, bb, aa float64
			for _, t := range taps {
				i := (t.index - need.Min.X) * 4
				s := line[i : i+4 : i+4]
				aw := float64(s[3]) * t.weight
				rr += float64(s[0]) * aw
				gg += float64(s[1]) * aw
				bb += float64(s[2]) * aw
				aa += aw
			}
			d := m[x*4 : x*4+4 : x*4+4]
			if aa != 0 {
				aInv := 1 / aa
				d[0] = roundClamp(rr * aInv)
				d[1] = roundClamp(gg * aInv)
				d[2] = roundClamp(bb * aInv)
				d[3] = roundClamp(aa)
			} else {
				d[0], d[1], d[2], d[3] = 0, 0, 0, 0
			}
		}
	}

	bf.out = image.NRGBA{Pix: grow(bf.out.Pix, cw*ch*4), Stride: cw * 4, Rect: image.Rect(0, 0, cw, ch)}
	out = &bf.out
	if !vy {
		copy(out.Pix, bf.mid[:cw*ch*4])
		return out, release
	}
	// Vertical pass, a row at a time: acc sums each output pixel's taps in imaging's order.
	bf.acc = grow(bf.acc, cw*4)
	acc := bf.acc
	// After an opaque horizontal pass every mid alpha is 255, so each output row's
	// alpha sum Σ255·w is a constant (the same sum in the same order as imaging's).
	vOpaque := opaque
	yinv := make([]float64, len(yt))
	for y, taps := range yt {
		var aa float64
		for _, t := range taps {
			aa += float64(uint8(255)) * t.weight
		}
		if aa == 0 || roundClamp(aa) != 255 {
			vOpaque = false
		}
		yinv[y] = 1 / aa
	}
	for y, taps := range yt {
		clear(acc)
		if vOpaque {
			// Every mid alpha is 255: aw and the alpha sum are per-row constants.
			for _, t := range taps {
				aw := float64(uint8(255)) * t.weight
				m := bf.mid[(t.index-need.Min.Y)*cw*4 : (t.index-need.Min.Y+1)*cw*4]
				for x := 0; x < cw; x++ {
					s := m[x*4 : x*4+3 : x*4+3]
					a := acc[x*4 : x*4+3 : x*4+3]
					a[0] += float64(s[0]) * aw
					a[1] += float64(s[1]) * aw
					a[2] += float64(s[2]) * aw
				}
			}
			o := out.Pix[y*cw*4 : (y+1)*cw*4]
			aInv := yinv[y]
			for x := 0; x < cw; x++ {
				a := acc[x*4 : x*4+3 : x*4+3]
				d := o[x*4 : x*4+4 : x*4+4]
				d[0] = roundClamp(a[0] * aInv)
				d[1] = roundClamp(a[1] * aInv)
				d[2] = roundClamp(a[2] * aInv)
				d[3] = 255
			}
			continue
		}
		for _, t := range taps {
			m := bf.mid[(t.index-need.Min.Y)*cw*4 : (t.index-need.Min.Y+1)*cw*4]
			for x := 0; x < cw; x++ {
				s := m[x*4 : x*4+4 : x*4+4]
				a := acc[x*4 : x*4+4 : x*4+4]
				aw := float64(s[3]) * t.weight
				a[0] += float64(s[0]) * aw
				a[1] += float64(s[1]) * aw
				a[2] += float64(s[2]) * aw
				a[3] += aw
			}
		}
		o := out.Pix[y*cw*4 : (y+1)*cw*4]
		for x := 0; x < cw; x++ {
			a := acc[x*4 : x*4+4 : x*4+4]
			d := o[x*4 : x*4+4 : x*4+4]
			if a[3] != 0 {
				aInv := 1 / a[3]
				d[0] = roundClamp(a[0] * aInv)
				d[1] = roundClamp(a[1] * aInv)
				d[2] = roundClamp(a[2] * aInv)
				d[3] = roundClamp(a[3])
			} else {
				d[0], d[1], d[2], d[3] = 0, 0, 0, 0
			}
		}
	}
	return out, release
}
