package data

import (
	"bytes"
	"compress/flate"
	"compress/lzw"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"hash/crc32"
	"image"
	"strings"
	"testing"
	"time"
)

// pngChunk frames one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(append(b, typ...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// pngBomb builds a w×h PNG of the given bit depth, colour type and interlacing
// whose rows are all zero bytes under the Paeth filter (the dearest): a few
// hundred kilobytes that ask image/png for its most work per pixel.
func pngBomb(w, h, depth, ctype int, interlaced bool) []byte {
	bitsPerPixel := map[int]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype] * depth
	// Each row is deflated once, as a non-final block that refers to no earlier
	// data, and repeated: building a 40 MP bomb costs a checksum, not a compression.
	idat := []byte{0x78, 0xda}
	sum := adler32.New()
	block := map[int][]byte{}
	rows := func(pw, ph int) {
		n := 1 + (pw*bitsPerPixel+7)/8
		row := make([]byte, n)
		row[0] = 4 // Paeth
		if block[n] == nil {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, flate.BestCompression)
			fw.Write(row)
			fw.Flush()
			block[n] = buf.Bytes()
		}
		for y := 0; pw > 0 && y < ph; y++ {
			idat = append(idat, block[n]...)
			sum.Write(row)
		}
	}
	if !interlaced {
		rows(w, h)
	} else {
		for _, p := range [][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			rows((w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3])
		}
	}
	idat = append(idat, 0x03, 0x00) // an empty final block
	idat = sum.Sum(idat)
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	il := byte(0)
	if interlaced {
		il = 1
	}
	ihdr = append(ihdr, byte(depth), byte(ctype), 0, 0, il)
	b := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	if ctype == 3 {
		b = append(b, pngChunk("PLTE", make([]byte, 3))...)
	}
	b = append(b, pngChunk("IDAT", idat)...)
	return append(b, pngChunk("IEND", nil)...)
}

// tiffBomb builds a little-endian w×h TIFF of spp samples of bps bits, in strips of
// rowsPerStrip rows or, when tile > 0, tile×tile tiles, every one of which points
// at the same compressed block.
func tiffBomb(w, h, spp, bps, compression, rowsPerStrip, tile int, block []byte) []byte {
	le := binary.LittleEndian
	var blocks int
	offTag, countTag := uint16(273), uint16(279)
	if tile == 0 {
		blocks = ceilDiv(h, rowsPerStrip)
	} else {
		blocks = ceilDiv(w, tile) * ceilDiv(h, tile)
		offTag, countTag = 324, 325
	}
	b := append([]byte("II*\x00\x00\x00\x00\x00"), block...)
	offs := len(b)
	for range blocks {
		b = le.AppendUint32(b, 8)
	}
	counts := len(b)
	for range blocks {
		b = le.AppendUint32(b, uint32(len(block)))
	}
	bpsAt := len(b)
	for range spp {
		b = le.AppendUint16(b, uint16(bps))
	}
	type entry struct{ tag, typ, count, value uint32 }
	photometric := uint32(1)
	if spp >= 3 {
		photometric = 2
	}
	bpsEntry := entry{258, 3, uint32(spp), uint32(bps)}
	if spp > 2 {
		bpsEntry.value = uint32(bpsAt)
	} else if spp == 2 {
		bpsEntry.value = uint32(bps) | uint32(bps)<<16
	}
	es := []entry{{256, 4, 1, uint32(w)}, {257, 4, 1, uint32(h)}, bpsEntry,
		{259, 3, 1, uint32(compression)}, {262, 3, 1, photometric}}
	list := func(tag uint32, at int) entry {
		if blocks == 1 {
			return entry{tag, 4, 1, le.Uint32(b[at:])}
		}
		return entry{tag, 4, uint32(blocks), uint32(at)}
	}
	if tile > 0 {
		es = append(es, entry{277, 3, 1, uint32(spp)}, entry{322, 4, 1, uint32(tile)}, entry{323, 4, 1, uint32(tile)},
			list(uint32(offTag), offs), list(uint32(countTag), counts))
	} else {
		es = append(es, list(uint32(offTag), offs), entry{277, 3, 1, uint32(spp)}, entry{278, 4, 1, uint32(rowsPerStrip)},
			list(uint32(countTag), counts))
	}
	if spp == 4 {
		es = append(es, entry{338, 3, 1, 2}) // unassociated alpha
	}
	le.PutUint32(b[4:], uint32(len(b)))
	b = le.AppendUint16(b, uint16(len(es)))
	for _, e := range es {
		b = le.AppendUint16(b, uint16(e.tag))
		b = le.AppendUint16(b, uint16(e.typ))
		b = le.AppendUint32(b, e.count)
		b = le.AppendUint32(b, e.value)
	}
	return le.AppendUint32(b, 0)
}

// deflated is n zero bytes, zlib-compressed.
func deflated(n int) []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	w.Write(make([]byte, n))
	w.Close()
	return buf.Bytes()
}

// lzwZeros is n zero bytes, LZW-compressed as TIFF's LZW (MSB first).
func lzwZeros(n int) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.MSB, 8)
	w.Write(make([]byte, n))
	w.Close()
	return buf.Bytes()
}

// TestDecodeWorkShares: a PNG or TIFF whose header asks its decoder (neither
// boundable nor cancellable) for more work per pixel than an 8-bit image, 16-bit
// colour or Adam7 interlacing, gets a share of the pixel cap: the 40 MP bombs of a
// few hundred kilobytes that cost seconds of CPU and up to 1.2 GB of heap are
// refused from their headers, naming the reason; the same files small decode, and
// raising the pixel cap raises the share.
func TestDecodeWorkShares(t *testing.T) {
	const w, h = 6400, 6250 // 40 MP
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"16-bit RGBA PNG", pngBomb(w, h, 16, 6, false), "16-bit colour"},
		{"16-bit RGB PNG", pngBomb(w, h, 16, 2, false), "16-bit colour"},
		{"interlaced RGB PNG", pngBomb(w, h, 8, 2, true), "interlaced"},
		{"interlaced 16-bit grey+alpha PNG", pngBomb(65535, 610, 16, 4, true), "1/4 of the pixel cap"},
		{"16-bit RGBA deflate TIFF", tiffBomb(w, h, 4, 16, 8, h, 0, deflated(64)), "16-bit colour"},
	}
	for _, c := range cases {
		start := processCPU()
		_, err := DecodeBytes(c.data, DecodeOptions{})
		if !errors.Is(err, ErrTooManyPixels) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s (%d bytes): %v, want ErrTooManyPixels naming %q", c.name, len(c.data), err, c.want)
		}
		if cpu := processCPU() - start; cpu > 250*time.Millisecond {
			t.Errorf("%s: refusing took %v of CPU", c.name, cpu)
		}
	}
	// Small, the same kinds decode; a raised cap lets a larger one through.
	for _, b := range [][]byte{pngBomb(64, 48, 16, 6, true), tiffBomb(64, 48, 4, 16, 8, 8, 0, deflated(64*8*8)), tiffBomb(64, 48, 3, 16, 5, 48, 0, lzwZeros(64*48*6))} {
		if img, err := DecodeBytes(b, DecodeOptions{}); err != nil || img.Bounds().Dx() != 64 {
			t.Errorf("64x48: %v", err)
		}
	}
	if _, err := DecodeBytes(pngBomb(400, 300, 16, 6, true), DecodeOptions{MaxPixels: 120_000}); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("interlaced 16-bit 0.12 MP under a 0.12 MP cap: %v, want refused", err)
	}
	if _, err := DecodeBytes(pngBomb(400, 300, 16, 6, true), DecodeOptions{MaxPixels: 480_000}); err != nil {
		t.Errorf("interlaced 16-bit 0.12 MP under a 0.48 MP cap: %v", err)
	}
	// An 8-bit grey 16-bit PNG costs no more than 8-bit colour: the whole cap.
	if err := checkDecodeWork("png", pngBomb(w, h, 16, 0, false), mustConfig(t, pngBomb(w, h, 16, 0, false)), DefaultMaxPixels); err != nil {
		t.Errorf("16-bit grey 40 MP: %v", err)
	}
}

// mustConfig is DecodeConfigBytes's config of b.
func mustConfig(t *testing.T, b []byte) (cfg image.Config) {
	t.Helper()
	cfg, _, err := DecodeConfigBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDecodeTIFFBlockLimit: a TIFF of tiny tiles or one-row strips, each of which
// golang.org/x/image/tiff sets up a decompressor for, is refused from its header
// when it has more than maxTIFFBlocks of them, however the tile size is stored
// (inline SHORT, or LONG at an offset as the decoder also reads it).
func TestDecodeTIFFBlockLimit(t *testing.T) {
	tiles := tiffBomb(6400, 6250, 1, 8, 8, 0, 16, deflated(256)) // 156,400 tiles
	start := processCPU()
	_, err := DecodeBytes(tiles, DecodeOptions{})
	if err == nil || !strings.Contains(err.Error(), "strips or tiles") {
		t.Errorf("16x16 tiles at 40 MP: %v, want refused for its tiles", err)
	}
	if cpu := processCPU() - start; cpu > 250*time.Millisecond {
		t.Errorf("refusing took %v of CPU", cpu)
	}
	strips := tiffBomb(8, 65535, 1, 8, 5, 1, 0, lzwZeros(8))
	if _, err := DecodeBytes(strips, DecodeOptions{}); err == nil || !strings.Contains(err.Error(), "strips or tiles") {
		t.Errorf("65535 one-row strips: %v, want refused for its strips", err)
	}
	// Tile width written as two LONGs at an offset: the first one counts.
	at := bytes.Index(tiles, []byte{0x42, 0x01, 4, 0, 1, 0, 0, 0}) // tag 322, LONG, count 1
	if at < 0 {
		t.Fatal("no TileWidth entry")
	}
	far := append(bytes.Clone(tiles), 16, 0, 0, 0, 0, 0, 1, 0) // 16, then 65536
	binary.LittleEndian.PutUint32(far[at+4:], 2)
	binary.LittleEndian.PutUint32(far[at+8:], uint32(len(tiles)))
	if n := tiffBlocks(far, 6400, 6250); n != 156400 {
		t.Errorf("tile width at an offset: %d blocks, want 156400", n)
	}
	// A sane strip layout decodes.
	if _, err := DecodeBytes(tiffBomb(640, 480, 3, 8, 8, 1, 0, deflated(640*3)), DecodeOptions{}); err != nil {
		t.Errorf("480 one-row strips: %v", err)
	}
}

// BenchmarkDecodeShareBombs decodes each bomb TestDecodeWorkShares refuses at the
// most pixels its share of the default cap lets through, and the TIFF of the most
// one-row strips, beside an 8-bit PNG bomb at the whole cap: the worst cases a
// default decode accepts, which should cost about the same.
//
//	go test ./data -run '^$' -bench DecodeShareBombs -benchtime 1x
func BenchmarkDecodeShareBombs(b *testing.B) {
	for _, c := range []struct {
		name string
		data func() []byte
	}{
		{"png-rgba8-40MP", func() []byte { return pngBomb(6400, 6250, 8, 6, false) }},
		{"png-rgba16-20MP", func() []byte { return pngBomb(4000, 5000, 16, 6, false) }},
		{"png-rgb8-interlaced-20MP", func() []byte { return pngBomb(4000, 5000, 8, 2, true) }},
		{"png-rgba16-interlaced-10MP", func() []byte { return pngBomb(4000, 2500, 16, 6, true) }},
		{"tiff-rgba16-deflate-10MP", func() []byte { return tiffBomb(4000, 2500, 4, 16, 8, 2500, 0, deflated(4000*2500*8)) }},
		{"tiff-rgba8-lzw-16384-strips-40MP", func() []byte { return tiffBomb(2441, 16384, 4, 8, 5, 1, 0, lzwZeros(2441*4)) }},
	} {
		data := c.data()
		b.Run(c.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				start := processCPU()
				if _, err := DecodeBytes(data, DecodeOptions{}); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - start
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
