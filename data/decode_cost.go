package data

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
)

// The pixel cap bounds the memory and CPU of an ordinary 8-bit image. Some headers
// ask the standard-library and golang.org/x/image decoders, which can be neither
// bounded nor cancelled once they start, for several times the work per pixel: a
// 16-bit colour image decodes into 8 bytes a pixel instead of 4, an interlaced PNG
// decodes seven sub-images and then copies them, and 16-bit TIFF samples are stored
// one pixel at a time through an interface. A file of a few hundred kilobytes can
// ask for all of it at the full cap. Such images get a share of the pixel cap, so
// that their worst case costs what an 8-bit image at the cap does; raising
// MaxPixels raises every share.

// maxTIFFBlocks is the most strips or tiles a TIFF may have: three times what a
// 40 MP 8-bit photo stored one row per strip needs. golang.org/x/image/tiff sets up a new
// decompressor for each, so a file of tiny tiles costs far more than its pixels.
const maxTIFFBlocks = 1 << 14

// workShare is the share of the pixel cap, 1/den, for an image of the named format
// whose header says cfg, and why it is smaller than the whole (empty for den 1).
func workShare(name string, b []byte, cfg image.Config) (den int, why string) {
	wide := cfg.ColorModel == color.RGBA64Model || cfg.ColorModel == color.NRGBA64Model
	den = 1
	switch name {
	case formatPNG.name:
		if wide {
			den, why = 2, "16-bit colour"
		}
		if pngInterlaced(b) {
			den *= 2
			why = join(why, "interlaced")
		}
	case formatTIFF.name:
		if wide {
			den, why = 4, "16-bit colour"
		}
	case formatWebP.name:
		if kind := webpLosslessKind(b); kind != "" {
			den, why = losslessWebPDen/losslessWebPNum, kind
		}
	}
	return den, why
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

// pngInterlaced reports whether a PNG's IHDR asks for Adam7 interlacing.
func pngInterlaced(b []byte) bool {
	// signature (8), IHDR length and type (8), then width, height, depth, colour
	// type, compression, filter, interlace.
	return len(b) > 28 && string(b[12:16]) == "IHDR" && b[28] == 1
}

// checkDecodeWork refuses, before any decoding, an image whose header asks more of
// its decoder than the pixel cap allows an 8-bit image (see workShare), a TIFF of
// more than maxTIFFBlocks strips or tiles, and a lossy WebP of more than
// maxVP8Bytes of data.
func checkDecodeWork(name string, b []byte, cfg image.Config, maxPixels int) error {
	if name == formatTIFF.name {
		if n := tiffBlocks(b, cfg.Width, cfg.Height); n > maxTIFFBlocks {
			return fmt.Errorf("%d strips or tiles, more than the %d autotag decodes", n, maxTIFFBlocks)
		}
	}
	if name == formatWebP.name {
		if n := webpVP8Size(b); n > maxVP8Bytes {
			return fmt.Errorf("its lossy data is %s, more than the %s autotag decodes", sizeString(n), sizeString(maxVP8Bytes))
		}
	}
	if maxPixels <= 0 {
		return nil
	}
	den, why := workShare(name, b, cfg)
	limit := int64(maxPixels) / int64(den)
	if px := int64(cfg.Width) * int64(cfg.Height); den > 1 && px > limit {
		return fmt.Errorf("%w: %s %dx%d is %.1f MP, over the %.1f MP cap for it (1/%d of the pixel cap: its decoder costs more per pixel)",
			ErrTooManyPixels, why, cfg.Width, cfg.Height, float64(px)/1e6, float64(limit)/1e6, den)
	}
	return nil
}

// tiffBlocks is the number of strips or tiles golang.org/x/image/tiff decodes for a
// w×h TIFF: from IFD0's TileWidth and TileLength, else its RowsPerStrip. A header it
// cannot read counts as one block (the decoder then reports what is wrong).
func tiffBlocks(b []byte, w, h int) int64 {
	v := tiffIFD0Values(b, 322, 323, 278)
	tw, th, rps := v[0], v[1], v[2]
	if tw > 0 && th > 0 {
		return ceilDiv64(int64(w), tw) * ceilDiv64(int64(h), th)
	}
	if rps > 0 && rps < int64(h) {
		return ceilDiv64(int64(h), rps)
	}
	return 1
}

func ceilDiv64(a, b int64) int64 { return (a + b - 1) / b }

// tiffIFD0Values reads the first value of each tag from IFD0 of a TIFF structure,
// as golang.org/x/image/tiff does (BYTE, SHORT or LONG, inline or at the entry's
// offset; a repeated tag's last entry wins); an absent or unreadable tag reads as 0.
func tiffIFD0Values(b []byte, tags ...uint16) []int64 {
	out := make([]int64, len(tags))
	bo, off, n, ok := tiffIFD0(b)
	if !ok {
		return out
	}
	for k := int64(0); k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(b)) {
			break
		}
		tag := bo.Uint16(b[e:])
		for i, want := range tags {
			if tag == want {
				out[i] = tiffFirstValue(b, bo, b[e:e+12])
			}
		}
	}
	return out
}

// tiffFirstValue is the first value of a BYTE, SHORT or LONG IFD entry, or 0.
func tiffFirstValue(b []byte, bo binary.ByteOrder, entry []byte) int64 {
	size := map[uint16]int64{1: 1, 3: 2, 4: 4}[bo.Uint16(entry[2:])]
	count := int64(bo.Uint32(entry[4:]))
	if size == 0 || count == 0 {
		return 0
	}
	v := entry[8:12]
	if size*count > 4 {
		at := int64(bo.Uint32(entry[8:]))
		if at+size > int64(len(b)) {
			return 0
		}
		v = b[at:]
	}
	switch size {
	case 1:
		return int64(v[0])
	case 2:
		return int64(bo.Uint16(v))
	}
	return int64(bo.Uint32(v))
}

// tiffIFD0 finds IFD0 of a TIFF structure (TIFF 6.0 §2): its byte order, offset and
// number of entries.
func tiffIFD0(b []byte) (bo binary.ByteOrder, off, n int64, ok bool) {
	if len(b) < 8 {
		return nil, 0, 0, false
	}
	switch string(b[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return nil, 0, 0, false
	}
	if bo.Uint16(b[2:]) != 42 {
		return nil, 0, 0, false
	}
	off = int64(bo.Uint32(b[4:]))
	if off < 8 || off+2 > int64(len(b)) {
		return nil, 0, 0, false
	}
	return bo, off, int64(bo.Uint16(b[off:])), true
}
