package data

import (
	"encoding/binary"
	"errors"
	"image"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// vp8lWriter packs bits LSB first, as VP8L reads them.
type vp8lWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

func (w *vp8lWriter) put(v uint32, n uint) {
	w.acc |= uint64(v&(1<<n-1)) << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

// single writes a simple Huffman code of one 8-bit symbol: a code of no bits.
func (w *vp8lWriter) single(sym uint32) {
	w.put(1, 1) // simple code
	w.put(0, 1) // one symbol
	w.put(1, 1) // of 8 bits
	w.put(sym, 8)
}

// group writes the five codes of a Huffman group (green, red, blue, alpha,
// distance), each of one symbol.
func (w *vp8lWriter) group(g, r, b, a uint32) {
	for _, s := range []uint32{g, r, b, a, 0} {
		w.single(s)
	}
}

// losslessWebPBomb builds a w×h lossless WebP of a few dozen bytes that makes
// golang.org/x/image's VP8L decoder spend the most per pixel: all four transforms
// (predictor and cross-colour over 4×4 tiles, subtract-green, a 256-colour index
// that packs nothing) and pixel data of zero-length codes, which it decodes one by
// one past the end of the data.
func losslessWebPBomb(w, h int) []byte {
	var bw vp8lWriter
	bw.put(0x2f, 8)
	bw.put(uint32(w-1), 14)
	bw.put(uint32(h-1), 14)
	bw.put(1, 1)                       // alpha hint
	bw.put(0, 3)                       // version
	for _, t := range []uint32{0, 1} { // predictor, cross-colour
		bw.put(1, 1)
		bw.put(t, 2)
		bw.put(0, 3)          // 4×4 tiles
		bw.put(0, 1)          // no colour cache
		bw.group(13, 0, 0, 0) // predictor mode 13 everywhere
	}
	bw.put(1, 1)
	bw.put(2, 2) // subtract green
	bw.put(1, 1)
	bw.put(3, 2)   // colour indexing
	bw.put(255, 8) // 256 colours: one index a pixel
	bw.put(0, 1)
	bw.group(1, 1, 1, 1)
	bw.put(0, 1) // no more transforms
	bw.put(0, 1) // no colour cache
	bw.put(0, 1) // no meta Huffman image
	bw.group(7, 3, 5, 200)
	if bw.nacc > 0 {
		bw.out = append(bw.out, byte(bw.acc))
	}
	return riffWebP(riffChunk("VP8L", bw.out))
}

// riffChunk is one RIFF chunk, padded to an even length.
func riffChunk(fourcc string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte(fourcc), uint32(len(data)))
	b = append(b, data...)
	if len(data)&1 == 1 {
		b = append(b, 0)
	}
	return b
}

// riffWebP wraps chunks in a RIFF WEBP container.
func riffWebP(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(4+len(body)))
	return append(append(b, "WEBP"...), body...)
}

// processCPU is the process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLosslessWebPBombRefused: a 58-byte lossless WebP announcing 40 MP, which
// takes seconds of CPU in a decoder that cannot be stopped, is refused from its
// header under the default pixel cap, naming the lossless cap; the same file at a
// small size decodes, and lifting or raising the pixel cap lifts or raises the
// lossless cap with it.
func TestLosslessWebPBombRefused(t *testing.T) {
	data := losslessWebPBomb(8000, 5000)
	start := processCPU()
	_, err := DecodeBytes(data, DecodeOptions{})
	if !errors.Is(err, ErrTooManyPixels) || !strings.Contains(err.Error(), "lossless") {
		t.Fatalf("%d-byte 40 MP lossless WebP: %v, want ErrTooManyPixels naming the lossless cap", len(data), err)
	}
	if cpu := processCPU() - start; cpu > 500*time.Millisecond {
		t.Errorf("refusing took %v of CPU", cpu)
	}
	small, err := DecodeBytes(losslessWebPBomb(64, 48), DecodeOptions{})
	if err != nil || small.Bounds().Dx() != 64 || small.Bounds().Dy() != 48 {
		t.Fatalf("64x48: %v", err)
	}
	for _, c := range []struct {
		maxPixels int
		refused   bool
	}{{-1, false}, {160_000_000, false}, {120_000_000, true}, {DefaultMaxPixels, true}} {
		err := checkDecodeWork("webp", data, image.Config{Width: 8000, Height: 5000}, c.maxPixels)
		if (err != nil) != c.refused {
			t.Errorf("MaxPixels %d: %v, refused %v", c.maxPixels, err, c.refused)
		}
	}
}

// TestWebPLosslessDetection: the cap applies to VP8L images and to VP8L-compressed
// alpha (ALPH method 1) in an extended file, not to lossy images, raw alpha or
// files that are not WebP.
func TestWebPLosslessDetection(t *testing.T) {
	vp8x := riffChunk("VP8X", make([]byte, 10))
	lossy := riffChunk("VP8 ", make([]byte, 31))
	for _, c := range []struct {
		name string
		data []byte
		want bool
	}{
		{"vp8l", losslessWebPBomb(8, 8), true},
		{"lossy", riffWebP(lossy), false},
		{"lossy with lossless alpha", riffWebP(vp8x, riffChunk("ALPH", []byte{1, 2, 3}), lossy), true},
		{"lossy with raw alpha", riffWebP(vp8x, riffChunk("ALPH", []byte{0, 2, 3}), lossy), false},
		{"extended lossless", riffWebP(vp8x, riffChunk("ICCP", []byte{1}), riffChunk("VP8L", []byte{0x2f})), true},
		{"chunk past the end", riffWebP(riffChunk("ICCP", []byte{1})[:6]), false},
		{"png", []byte("\x89PNG\r\n\x1a\n"), false},
	} {
		if got := webpLossless(c.data); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// BenchmarkWebPLosslessBomb measures the lossless WebP bomb at the default cap for
// lossless WebP (the most pixels it may have: the worst case a default decode
// allows) and, for scale, at 40 MP with the pixel cap lifted. cpu-ms/op is the
// process's CPU time per decode.
//
//	go test ./data -run '^$' -bench WebPLosslessBomb -benchtime 1x
func BenchmarkWebPLosslessBomb(b *testing.B) {
	for _, c := range []struct {
		name      string
		w, h      int
		maxPixels int
	}{{"at-cap", 5000, 2000, 0}, {"40MP-uncapped", 8000, 5000, -1}} {
		b.Run(c.name, func(b *testing.B) {
			data := losslessWebPBomb(c.w, c.h)
			runtime.GC()
			b.ResetTimer()
			start := processCPU()
			for i := 0; i < b.N; i++ {
				if _, err := DecodeBytes(data, DecodeOptions{MaxPixels: c.maxPixels}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPU()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(c.w*c.h)/1e6, "MP")
		})
	}
}

// vp8Frame is a key frame's VP8 chunk body: w×h, then size bytes of zeros.
func vp8Frame(w, h, size int) []byte {
	tag := uint32(1<<4 | 1024<<5) // key frame, shown, a 1 KB first partition
	b := []byte{byte(tag), byte(tag >> 8), byte(tag >> 16), 0x9d, 0x01, 0x2a}
	b = binary.LittleEndian.AppendUint16(b, uint16(w))
	b = binary.LittleEndian.AppendUint16(b, uint16(h))
	return append(b, make([]byte, size)...)
}

// TestWebPLossyDataCap: a lossy WebP holding more VP8 data than one token
// partition can (what an encoder writes; more must be split over partitions,
// each decoded at a cost that grows with its data) is refused from its chunk
// header, before the decoder allocates its 40 MP frame; the same frame with
// little data is left to the decoder, and a lossy WebP with VP8L-coded alpha is
// refused for its alpha, by that name.
func TestWebPLossyDataCap(t *testing.T) {
	big := riffWebP(riffChunk("VP8 ", vp8Frame(8000, 5000, maxVP8Bytes+1<<10)))
	var err error
	n := allocDuring(func() { _, err = DecodeBytes(big, DecodeOptions{}) })
	if err == nil || !strings.Contains(err.Error(), "lossy data") || n > 1<<20 {
		t.Errorf("%d MB of VP8 data: %v after %d MB allocated; want refused from the header", len(big)>>20, err, n>>20)
	}
	small := riffWebP(riffChunk("VP8 ", vp8Frame(64, 48, 2048)))
	if _, err := DecodeBytes(small, DecodeOptions{}); err != nil && strings.Contains(err.Error(), "lossy data") {
		t.Errorf("2 KB of VP8 data: %v", err)
	}
	vp8x := make([]byte, 10)
	vp8x[0] = 1 << 4                                            // alpha
	vp8x[4], vp8x[5], vp8x[7], vp8x[8] = 0x3f, 0x1f, 0x87, 0x13 // 8000×5000
	alpha := riffWebP(riffChunk("VP8X", vp8x), riffChunk("ALPH", []byte{1, 0, 0}), riffChunk("VP8 ", vp8Frame(8000, 5000, 64)))
	if _, err := DecodeBytes(alpha, DecodeOptions{}); !errors.Is(err, ErrTooManyPixels) || !strings.Contains(err.Error(), "lossless-coded alpha") {
		t.Errorf("40 MP lossy WebP with lossless-coded alpha: %v, want ErrTooManyPixels naming the alpha", err)
	}
}
