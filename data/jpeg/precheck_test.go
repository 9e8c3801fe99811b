package jpeg

import (
	"bytes"
	stdjpeg "image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// TestCoefficientBytes: a progressive frame's coefficient memory is 256 bytes per
// block of every component, padded to whole MCUs; a sequential JPEG keeps none, and
// what is not a JPEG frame reads as none.
func TestCoefficientBytes(t *testing.T) {
	for _, c := range []struct {
		file string
		want func(w, h int) int64
	}{
		// 4:2:0: an MCU of 16×16 pixels holds four luma and two chroma blocks.
		{"prog.jpg", func(w, h int) int64 { return 256 * 6 * int64((w+15)/16) * int64((h+15)/16) }},
		{"prog_odd.jpg", func(w, h int) int64 { return 256 * 6 * int64((w+15)/16) * int64((h+15)/16) }},
		// 4:4:4: one block per component per 8×8 pixels.
		{"prog_444.jpg", func(w, h int) int64 { return 256 * 3 * int64((w+7)/8) * int64((h+7)/8) }},
		{"prog_gray.jpg", func(w, h int) int64 { return 256 * int64((w+7)/8) * int64((h+7)/8) }},
		{"q100.jpg", func(int, int) int64 { return 0 }},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := stdjpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := CoefficientBytes(b), c.want(cfg.Width, cfg.Height); got != want {
			t.Errorf("%s (%dx%d): CoefficientBytes %d, want %d", c.file, cfg.Width, cfg.Height, got, want)
		}
		if got := CoefficientBytes(b[:len(b)/100]); got != 0 && got != c.want(cfg.Width, cfg.Height) {
			t.Errorf("%s truncated: %d", c.file, got)
		}
	}
	for _, junk := range [][]byte{nil, {0xff}, {0xff, 0xd8}, {0xff, 0xd8, 0xff, 0xc2, 0, 1}, []byte("GIF89a")} {
		if got := CoefficientBytes(junk); got != 0 {
			t.Errorf("%q: %d, want 0", junk, got)
		}
	}
}
