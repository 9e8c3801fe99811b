package jpeg

import "math"

// Reduced-size inverse DCTs for scaled decoding, after libjpeg's jidctred.c (Tom
// Lane, IJG): an N×N output (N = 4, 2, 1) comes from the N×N lowest-frequency
// coefficients alone. Output pixel (X, Y) of a block samples the 8×8 inverse DCT at
// the centre of the S×S patch it stands for, x = S·X + (S-1)/2; since
// (2x+1)·u·π/16 = (2X+1)·u·π/(2N), that is an N-point inverse DCT with the 8-point
// normalisation:
//
//	f(X,Y) = 1/4 · Σ_{u,v<N} C(u) C(v) F(v,u) cos((2X+1)uπ/2N) cos((2Y+1)vπ/2N)
//
// with C(0) = 1/√2 and C(u) = 1 otherwise, so a flat block keeps its level
// (f = F(0,0)/8). Frequencies at or above N are dropped, which is a low-pass filter
// of sorts, much like averaging the full decode over S×S patches.
//
// Arithmetic is in 64-bit integers, so no input can overflow it.

// redBits is the fixed-point precision of the 4-point transform's constants.
const redBits = 13

// red4 holds C(u)·cos((2X+1)uπ/8)·2^redBits for u = 0..3 and X = 0, 1; the outputs
// X = 2, 3 use the same magnitudes with the odd terms negated.
var red4 [4][2]int

func init() {
	for u := 0; u < 4; u++ {
		cu := 1.0
		if u == 0 {
			cu = 1 / math.Sqrt2
		}
		for x := 0; x < 2; x++ {
			red4[u][x] = int(math.Round(cu * math.Cos(float64((2*x+1)*u)*math.Pi/8) * (1 << redBits)))
		}
	}
}

// idct4 writes the 4×4 reduced inverse DCT of b (Scale 2) to dst and zeroes b.
func idct4(b *block, mask uint32, dst []byte, stride int) {
	var t [4][4]int // t[v][X]: rows transformed, scaled by 2^redBits
	for v := 0; v < 4; v++ {
		if mask&(1<<v) == 0 {
			continue
		}
		f0, f1, f2, f3 := int(b[8*v]), int(b[8*v+1]), int(b[8*v+2]), int(b[8*v+3])
		for x := 0; x < 2; x++ {
			even := f0*red4[0][x] + f2*red4[2][x]
			odd := f1*red4[1][x] + f3*red4[3][x]
			t[v][x] = even + odd
			t[v][3-x] = even - odd
		}
	}
	for x := 0; x < 4; x++ {
		for y := 0; y < 2; y++ {
			even := t[0][x]*red4[0][y] + t[2][x]*red4[2][y]
			odd := t[1][x]*red4[1][y] + t[3][x]*red4[3][y]
			// Undo 2^(2·redBits), the 1/4, and round.
			const shift = 2*redBits + 2
			dst[y*stride+x] = clampLevel64((even + odd + 1<<(shift-1)) >> shift)
			dst[(3-y)*stride+x] = clampLevel64((even - odd + 1<<(shift-1)) >> shift)
		}
	}
	clearRows(b, mask)
}

// idct2 writes the 2×2 reduced inverse DCT of b (Scale 4) to dst and zeroes b. With
// N = 2 every cosine is ±1/√2, so f = (F00 ± F01 ± F10 ± F11)/8.
func idct2(b *block, mask uint32, dst []byte, stride int) {
	f00, f01, f10, f11 := int(b[0]), int(b[1]), int(b[8]), int(b[9])
	a, c := f00+f10, f00-f10 // top row sums, bottom row sums
	e, g := f01+f11, f01-f11
	dst[0] = clampLevel64((a + e + 4) >> 3)
	dst[1] = clampLevel64((a - e + 4) >> 3)
	dst[stride] = clampLevel64((c + g + 4) >> 3)
	dst[stride+1] = clampLevel64((c - g + 4) >> 3)
	clearRows(b, mask)
}

// idct1 writes the DC level of b (Scale 8) to dst and zeroes b.
func idct1(b *block, mask uint32, dst []byte) {
	dst[0] = clampLevel64((int(b[0]) + 4) >> 3)
	clearRows(b, mask)
}

// clampLevel64 is clampLevel for 64-bit values.
func clampLevel64(c int) byte {
	c += 128
	if uint(c) > 255 {
		if c < 0 {
			return 0
		}
		return 255
	}
	return byte(c)
}

// clearRows zeroes the rows of b that mask marks.
func clearRows(b *block, mask uint32) {
	if mask&0xfffe == 0 {
		b[0] = 0
		return
	}
	for r := 0; r < 8; r++ {
		if mask&(1<<r) != 0 {
			clear(b[8*r : 8*r+8])
		}
	}
}
