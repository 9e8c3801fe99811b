package jpeg

// The full-size inverse DCT. It must give exactly image/jpeg's samples, so it is
// the same integer algorithm: Loeffler, Ligtenberg and Moschytz's 11-multiply 1-D
// DCT ("Practical fast 1-D DCT algorithms with 11 multiplications", ICASSP 1989)
// run backwards, rows first, then columns, with the same fixed-point constants and
// the same right shifts at the same places (image/jpeg's dct.go since Go 1.25).
//
// Between two right shifts everything is additions and multiplications of int32
// values, which wrap modulo 2^32; those form a ring, so any algebraically equal
// arrangement of them gives the same bits, overflow included. We are therefore free
// to write the rotations and butterflies in our own order and to drop terms that are
// known to be zero — which is where the speed comes from: rows with no coefficients
// are skipped, rows with only a DC term are a fill, and a block whose coefficients
// all sit in row 0 needs only one add and shift per column.
//
// The 1-D inverse transform of x0..x7 (frequency order) is
//
//	even part: e0 = x0+x4, e1 = x0-x4 (scaled), and the rotation of (x2, x6) by
//	           6π/16 with a √2 scale folded in;
//	odd part:  p = x1+x7, m = x1-x7, the 1/√2 scaled x3 and x5, two butterflies, then
//	           rotations by 3π/16 and π/16;
//	output:    butterflies of even and odd parts.

// Fixed-point constants: round(value · 2^bits), named value_bits. They are the
// values image/jpeg's c() derives from its 60-bit constants, which equal simple
// rounding of the real numbers (checked in TestIDCTConstants).
const (
	rc6_18 = 70936  // (1/√2)·cos(6π/16) · 2^18
	rs6_18 = 171254 // (1/√2)·sin(6π/16) · 2^18
	r2_8   = 181    // 1/√2 · 2^8
	cos3   = 3406   // cos(3π/16) · 2^12
	sin3   = 2276   // sin(3π/16) · 2^12
	cos1   = 4017   // cos(π/16) · 2^12
	sin1   = 799    // sin(π/16) · 2^12
	rc6_12 = 1108   // (1/√2)·cos(6π/16) · 2^12
	rs6_12 = 2676   // (1/√2)·sin(6π/16) · 2^12
	r2_14  = 11585  // 1/√2 · 2^14
)

// block holds one block's 64 dequantized coefficients in natural (row-major) order.
type block [64]int32

// unzig maps zig-zag index to natural index (T.81 Figure A.6).
var unzig = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// zigMask[k] describes zig-zag position k for the inverse DCT's shortcuts: bit r
// marks its row as holding a coefficient, bit 8+r marks the row as needing a full
// row transform (the coefficient is off column 0), and bit 16+c marks its column.
var zigMask [64]uint32

func init() {
	for k, z := range unzig {
		row, col := z>>3, z&7
		zigMask[k] = 1<<row | 1<<(16+col)
		if col != 0 {
			zigMask[k] |= 1 << (8 + row)
		}
	}
}

// zigInfo[k] packs unzig[k] (low 8 bits) with zigMask[k] (shifted left by 8), so
// the entropy decoder's inner loop finds both with one load.
var zigInfo [64]uint32

func init() {
	for k := range zigInfo {
		zigInfo[k] = uint32(unzig[k]) | zigMask[k]<<8
	}
}

// Masks of the zigMask bits for columns 4-7 and rows 4-7: when neither is set, the
// row (column) transforms can drop their high-frequency inputs.
const (
	highCols = 0xf0 << 16
	highRows = 0xf0
)

// clampLevel level-shifts an inverse-DCT output by +128 and clamps it to a byte
// (T.81 A.3.1), as image/jpeg does.
func clampLevel(c int32) byte {
	c += 128
	if uint32(c) > 255 {
		if c < 0 {
			return 0
		}
		return 255
	}
	return byte(c)
}

// idct8 inverse-transforms b, level-shifts and stores the 8×8 result at dst (rows
// stride apart), then zeroes b. mask says which rows hold coefficients (see
// zigMask); rows outside it must be zero.
func idct8(b *block, mask uint32, dst []byte, stride int) {
	if mask&0xfffe == 0 {
		// Only the DC term: every row and column transform reduces to a shift.
		v := clampLevel((b[0]<<17 + 1<<19) >> 20)
		b[0] = 0
		for y := 0; y < 8; y++ {
			row := dst[y*stride:][:8]
			for x := range row {
				row[x] = v
			}
		}
		return
	}
	for r := 0; r < 8; r++ {
		if mask&(1<<r) == 0 {
			continue
		}
		x := (*[8]int32)(b[8*r : 8*r+8])
		if mask&(1<<(8+r)) == 0 {
			// DC-only row: the transform is x0<<17 everywhere.
			v := x[0] << 17
			for i := range x {
				x[i] = v
			}
			continue
		}
		if mask&highCols == 0 {
			idctRowLow(x)
		} else {
			idctRow(x)
		}
	}
	if mask&0xfe == 0 {
		// Only row 0 had coefficients, so every column is constant.
		row0 := (*[8]int32)(b[0:8])
		var px [8]byte
		for i, c := range row0 {
			px[i] = clampLevel((c + 1<<19) >> 20)
			row0[i] = 0
		}
		for y := 0; y < 8; y++ {
			copy(dst[y*stride:][:8], px[:])
		}
		return
	}
	if mask&highRows == 0 {
		idctColsLow(b)
	} else {
		idctCols(b)
	}
	for y := 0; y < 8; y++ {
		row := dst[y*stride:][:8]
		x := (*[8]int32)(b[8*y : 8*y+8])
		for i := range row {
			row[i] = clampLevel(x[i])
		}
	}
	*b = block{}
}

// idctRow is the 1-D inverse transform of one row of dequantized coefficients.
// Output is in image/jpeg's Q9.20 intermediate format (real value · 2^20 / 8).
func idctRow(x *[8]int32) {
	// Even part.
	a, b := x[0]<<17, x[4]<<17
	e0, e1 := a+b, a-b
	r2 := x[2]*rc6_18 - x[6]*rs6_18
	r3 := x[6]*rc6_18 + x[2]*rs6_18
	E0, E3 := e0+r3, e0-r3
	E1, E2 := e1+r2, e1-r2

	// Odd part.
	p := (x[1] + x[7]) << 7
	m := (x[1] - x[7]) << 7
	s3 := x[3] * r2_8
	s5 := x[5] * r2_8
	A, B := p+s3, p-s3
	C, D := m+s5, m-s5
	A, B, C, D = A>>2, B>>2, C>>2, D>>2
	o4 := C*cos3 - A*sin3
	o7 := A*cos3 + C*sin3
	o5 := B*cos1 - D*sin1
	o6 := D*cos1 + B*sin1

	x[0], x[7] = E0+o7, E0-o7
	x[1], x[6] = E1+o6, E1-o6
	x[2], x[5] = E2+o5, E2-o5
	x[3], x[4] = E3+o4, E3-o4
}

// idctRowLow is idctRow for a row whose columns 4-7 are zero.
func idctRowLow(x *[8]int32) {
	a := x[0] << 17
	r2 := x[2] * rc6_18
	r3 := x[2] * rs6_18
	E0, E3 := a+r3, a-r3
	E1, E2 := a+r2, a-r2

	p := x[1] << 7 // = m, since x7 = 0
	s3 := x[3] * r2_8
	A, B, C := (p+s3)>>2, (p-s3)>>2, p>>2 // D = C, since x5 = 0
	o4 := C*cos3 - A*sin3
	o7 := A*cos3 + C*sin3
	o5 := B*cos1 - C*sin1
	o6 := C*cos1 + B*sin1

	x[0], x[7] = E0+o7, E0-o7
	x[1], x[6] = E1+o6, E1-o6
	x[2], x[5] = E2+o5, E2-o5
	x[3], x[4] = E3+o4, E3-o4
}

// idctCols is the 1-D inverse transform of the columns of the row-transformed
// block, with the final rounding shift: its outputs are samples minus 128.
func idctCols(b *block) {
	for i := 0; i < 8; i++ {
		c0 := b[i] + 1<<19 // rounding for the final shift rides on the DC term
		c1, c2, c3 := b[8+i], b[16+i], b[24+i]
		c4, c5, c6, c7 := b[32+i], b[40+i], b[48+i], b[56+i]

		// Even part.
		e0, e1 := (c0+c4)>>2, (c0-c4)>>2
		u, w := c2>>13, c6>>13
		r2 := u*rc6_12 - w*rs6_12
		r3 := w*rc6_12 + u*rs6_12
		E0, E3 := e0+r3, e0-r3
		E1, E2 := e1+r2, e1-r2

		// Odd part.
		p, m := c1+c7, c1-c7
		s3 := (c3 >> 13) * r2_14
		s5 := (c5 >> 13) * r2_14
		A, B := (p+s3)>>14, (p-s3)>>14
		C, D := (m+s5)>>14, (m-s5)>>14
		o4 := C*cos3 - A*sin3
		o7 := A*cos3 + C*sin3
		o5 := B*cos1 - D*sin1
		o6 := D*cos1 + B*sin1

		b[i], b[56+i] = (E0+o7)>>18, (E0-o7)>>18
		b[8+i], b[48+i] = (E1+o6)>>18, (E1-o6)>>18
		b[16+i], b[40+i] = (E2+o5)>>18, (E2-o5)>>18
		b[24+i], b[32+i] = (E3+o4)>>18, (E3-o4)>>18
	}
}

// idctColsLow is idctCols for a block whose rows 4-7 are zero.
func idctColsLow(b *block) {
	for i := 0; i < 8; i++ {
		c0 := b[i] + 1<<19
		c1, c2, c3 := b[8+i], b[16+i], b[24+i]

		e := c0 >> 2 // e0 = e1, since c4 = 0
		u := c2 >> 13
		r2 := u * rc6_12
		r3 := u * rs6_12
		E0, E3 := e+r3, e-r3
		E1, E2 := e+r2, e-r2

		s3 := (c3 >> 13) * r2_14
		A, B, C := (c1+s3)>>14, (c1-s3)>>14, c1>>14 // p = m = c1, D = C
		o4 := C*cos3 - A*sin3
		o7 := A*cos3 + C*sin3
		o5 := B*cos1 - C*sin1
		o6 := C*cos1 + B*sin1

		b[i], b[56+i] = (E0+o7)>>18, (E0-o7)>>18
		b[8+i], b[48+i] = (E1+o6)>>18, (E1-o6)>>18
		b[16+i], b[40+i] = (E2+o5)>>18, (E2-o5)>>18
		b[24+i], b[32+i] = (E3+o4)>>18, (E3-o4)>>18
	}
}
