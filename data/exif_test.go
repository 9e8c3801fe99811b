package data

import (
	"bytes"
	"encoding/binary"
	"image"
	"testing"
)

// exifTIFF is a minimal EXIF TIFF structure: a header and IFD0 holding one entry, the
// Orientation tag (0x0112, SHORT, count 1) set to o.
func exifTIFF(o uint16, bo binary.ByteOrder) []byte {
	var b bytes.Buffer
	if bo == binary.LittleEndian {
		b.WriteString("II")
	} else {
		b.WriteString("MM")
	}
	w := func(v any) { binary.Write(&b, bo, v) }
	w(uint16(42))
	w(uint32(8))      // IFD0 offset
	w(uint16(2))      // two entries
	w(uint16(0x010F)) // Make, ASCII, count 4, inline "Go\0\0": an entry to skip
	w(uint16(2))
	w(uint32(4))
	b.WriteString("Go\x00\x00")
	w(uint16(0x0112))
	w(uint16(3))
	w(uint32(1))
	w(o)
	w(uint16(0))
	w(uint32(0)) // no next IFD
	return b.Bytes()
}

// exifJPEG encodes img as a JPEG and inserts, after SOI, an APP0 (JFIF-like), an XMP
// APP1 that must be skipped, and an EXIF APP1 with orientation o.
func exifJPEG(t testing.TB, img image.Image, o uint16, bo binary.ByteOrder) []byte {
	t.Helper()
	return withEXIF(encode(t, "jpeg", img), o, bo)
}

// withEXIF inserts the segments exifJPEG describes into an encoded JPEG.
func withEXIF(plain []byte, o uint16, bo binary.ByteOrder) []byte {
	seg := func(marker byte, payload []byte) []byte {
		s := []byte{0xFF, marker, 0, 0}
		binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
		return append(s, payload...)
	}
	var out []byte
	out = append(out, plain[:2]...)
	out = append(out, seg(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))...)
	out = append(out, seg(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x/>"))...)
	out = append(out, seg(0xE1, append([]byte("Exif\x00\x00"), exifTIFF(o, bo)...))...)
	return append(out, plain[2:]...)
}

// displayed maps a stored pixel (x, y) of a w×h image to where the EXIF orientation o
// puts it on screen (CIPA DC-008 Orientation: e.g. 6 = "0th row is the visual right side,
// 0th column the visual top").
func displayed(o, x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return h - 1 - y, x
	case 7:
		return h - 1 - y, w - 1 - x
	case 8:
		return y, w - 1 - x
	}
	return x, y
}

func TestEXIFOrientation(t *testing.T) {
	const w, h = 32, 16
	src := quadrants(w, h)
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for o := 1; o <= 8; o++ {
			t.Run(bo.String()+"/"+string(rune('0'+o)), func(t *testing.T) {
				b := exifJPEG(t, src, uint16(o), bo)
				if got := jpegOrientation(b); got != Orientation(o) {
					t.Fatalf("parsed orientation %d, want %d", got, o)
				}
				img, err := Decode(bytes.NewReader(b), DecodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				wantSize := image.Pt(w, h)
				if o >= 5 {
					wantSize = image.Pt(h, w)
				}
				if img.Bounds().Size() != wantSize {
					t.Fatalf("size %v, want %v", img.Bounds().Size(), wantSize)
				}
				// The centre of each stored quadrant must land where the orientation says.
				for _, p := range []image.Point{{4, 4}, {27, 4}, {4, 11}, {27, 11}} {
					dx, dy := displayed(o, p.X, p.Y, w, h)
					if !near(img.At(dx, dy), src.At(p.X, p.Y), 12) {
						t.Errorf("stored %v → shown (%d,%d) = %v, want %v", p, dx, dy, img.At(dx, dy), src.At(p.X, p.Y))
					}
				}
			})
		}
	}
}

func TestOrientationOtherContainers(t *testing.T) {
	tiffBytes := exifTIFF(8, binary.BigEndian)
	if got := tiffOrientation(tiffBytes); got != 8 {
		t.Errorf("tiff: %d", got)
	}
	// PNG with an eXIf chunk before IEND.
	p := encode(t, "png", quadrants(4, 2))
	chunk := []byte{0, 0, 0, byte(len(tiffBytes))}
	chunk = append(append(append(chunk, "eXIf"...), tiffBytes...), 0, 0, 0, 0)
	withExif := append(append(append([]byte{}, p[:len(p)-12]...), chunk...), p[len(p)-12:]...)
	if got := pngOrientation(withExif); got != 8 {
		t.Errorf("png eXIf: %d", got)
	}
	// WebP EXIF chunk (VP8X extended layout), with the JPEG-style prefix some writers add.
	payload := append([]byte("Exif\x00\x00"), tiffBytes...)
	webp := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00" + "\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	webp = append(webp, "EXIF"...)
	webp = binary.LittleEndian.AppendUint32(webp, uint32(len(payload)))
	webp = append(webp, payload...)
	if got := webpOrientation(webp); got != 8 {
		t.Errorf("webp EXIF: %d", got)
	}
	// Malformed structures read as absent, never panic.
	for _, b := range [][]byte{nil, {0xFF, 0xD8}, {0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF}, []byte("II*\x00\xff\xff\xff\xff"), tiffBytes[:12]} {
		if got := jpegOrientation(b) + tiffOrientation(b); got != 0 {
			t.Errorf("malformed %x: orientation %d", b, got)
		}
	}
}

// TestStoredRect checks storedRect against applyOrientation itself: every pixel of an
// upright rectangle comes from inside the stored rectangle it maps to, which is no
// bigger than the upright one.
func TestStoredRect(t *testing.T) {
	const sw, sh = 7, 5
	stored := image.NewNRGBA(image.Rect(0, 0, sw, sh))
	for y := range sh {
		for x := range sw {
			stored.Pix[stored.PixOffset(x, y)] = uint8(y*sw + x) // each pixel names itself
		}
	}
	for o := Orientation(1); o <= 8; o++ {
		up := applyOrientation(stored, o).(*image.NRGBA)
		if w, h := uprightSize(sw, sh, o); up.Bounds().Dx() != w || up.Bounds().Dy() != h {
			t.Fatalf("orientation %d: upright %v, uprightSize %dx%d", o, up.Bounds(), w, h)
		}
		for _, r := range []image.Rectangle{up.Bounds(), image.Rect(1, 1, 3, 4), image.Rect(0, 2, 1, 3), image.Rect(2, 0, 5, 2)} {
			r = r.Intersect(up.Bounds())
			got := storedRect(r, o, sw, sh)
			if got.Dx()*got.Dy() != r.Dx()*r.Dy() {
				t.Errorf("orientation %d: %v maps to %v, a different area", o, r, got)
			}
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					v := int(up.Pix[up.PixOffset(x, y)])
					if p := image.Pt(v%sw, v/sw); !p.In(got) {
						t.Errorf("orientation %d: upright (%d,%d) in %v comes from stored %v, outside %v", o, x, y, r, p, got)
					}
				}
			}
		}
	}
}
