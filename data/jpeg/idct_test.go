package jpeg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIDCTConstants re-derives the fixed-point constants: round(value · 2^bits).
func TestIDCTConstants(t *testing.T) {
	r := func(v float64, bits int) int32 { return int32(math.Floor(v*math.Exp2(float64(bits)) + 0.5)) }
	s2 := 1 / math.Sqrt2
	c := func(k int) float64 { return math.Cos(float64(k) * math.Pi / 16) }
	sn := func(k int) float64 { return math.Sin(float64(k) * math.Pi / 16) }
	for _, tc := range []struct {
		name      string
		got, want int32
	}{
		{"rc6_18", rc6_18, r(s2*c(6), 18)}, {"rs6_18", rs6_18, r(s2*sn(6), 18)},
		{"r2_8", r2_8, r(s2, 8)}, {"cos3", cos3, r(c(3), 12)}, {"sin3", sin3, r(sn(3), 12)},
		{"cos1", cos1, r(c(1), 12)}, {"sin1", sin1, r(sn(1), 12)},
		{"rc6_12", rc6_12, r(s2*c(6), 12)}, {"rs6_12", rs6_12, r(s2*sn(6), 12)},
		{"r2_14", r2_14, r(s2, 14)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// randomBlock fills a block with coefficients in the rows of rowMask and columns
// of colMask (always the DC term); with huge
// set, values span the whole int32 range (hostile streams wrap).
func randomBlock(rng *rand.Rand, rowMask, colMask uint8, dcOnlyRows bool, huge bool) (block, uint32) {
	var b block
	var mask uint32
	for k := 0; k < 64; k++ {
		z := unzig[k]
		row, col := z>>3, z&7
		if rowMask&(1<<row) == 0 || colMask&(1<<col) == 0 || (dcOnlyRows && col != 0) || rng.IntN(3) == 0 {
			continue
		}
		v := int32(rng.IntN(2049) - 1024)
		if huge {
			v = int32(rng.Uint32())
		}
		b[z] = v
		mask |= zigMask[k]
	}
	b[0] = int32(rng.IntN(2049) - 1024)
	if huge {
		b[0] = int32(rng.Uint32())
	}
	return b, mask | 1
}

// TestIDCTShortcutsExact: the DC-only, DC-only-row, row-0-only, low-column and
// low-row shortcuts give
// the same bytes as the general transform, wrapping arithmetic included.
func TestIDCTShortcutsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 20000; trial++ {
		rows := uint8(rng.IntN(256))
		switch trial % 4 {
		case 0:
			rows = 1
		case 1:
			rows &= 1
		}
		cols := uint8(rng.IntN(256))
		switch trial % 5 {
		case 0:
			cols &= 0x0f
		case 1:
			cols = 0xff
		}
		if trial%3 == 0 {
			rows &= 0x0f
		}
		b, mask := randomBlock(rng, rows, cols, trial%8 == 3, trial%2 == 0)
		general := b
		var want, got [64]byte
		idct8(&general, 0xffffff, want[:], 8)
		idct8(&b, mask, got[:], 8)
		if got != want {
			t.Fatalf("trial %d mask %#x: shortcut %v, general %v", trial, mask, got, want)
		}
		if b != (block{}) || general != (block{}) {
			t.Fatalf("trial %d: block not cleared", trial)
		}
	}
}

// TestIDCTCloseToDefinition: on ordinary coefficients the integer IDCT stays within
// ±1 of the float64 definition (T.81 A.3.3).
func TestIDCTCloseToDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 2000; trial++ {
		b, mask := randomBlock(rng, 0xff, 0xff, false, false)
		for i := range b {
			b[i] /= int32(1 + i)
		}
		want := refScaledIDCT(&b, 8)
		var got [64]byte
		idct8(&b, mask|0xffff00, got[:], 8)
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				if d := int(got[8*y+x]) - int(want[y][x]); d < -1 || d > 1 {
					t.Fatalf("trial %d (%d,%d): %d, definition %d", trial, x, y, got[8*y+x], want[y][x])
				}
			}
		}
	}
}
