package data

import (
	"bytes"
	"encoding/binary"
	"image"

	"github.com/disintegration/imaging"
)

// Orientation is the EXIF Orientation tag (0x0112): how the stored pixels must be
// transformed to display upright (EXIF 2.32, CIPA DC-008, §4.6.4 A). 1 is upright;
// 0 means absent.
type Orientation int

// orientationOf finds the EXIF orientation embedded in an encoded image of the named
// format: JPEG APP1 "Exif", TIFF IFD0, PNG eXIf, WebP EXIF chunk. Anything malformed
// reads as absent; it never fails.
func orientationOf(format string, b []byte) Orientation {
	switch format {
	case "jpeg":
		return jpegOrientation(b)
	case "tiff":
		return tiffOrientation(b)
	case "png":
		return pngOrientation(b)
	case "webp":
		return webpOrientation(b)
	}
	return 0
}

// jpegOrientation walks the JPEG markers up to the first scan and reads the first APP1
// segment that carries an EXIF TIFF structure.
func jpegOrientation(b []byte) Orientation {
	i := 2 // after SOI
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 0
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0x01 || (m >= 0xD0 && m <= 0xD7) { // standalone markers
			i += 2
			continue
		}
		if m == 0xDA || m == 0xD9 { // start of scan / end of image: no more metadata
			return 0
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 0
		}
		seg := b[i+4 : i+2+n]
		if m == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			if o := tiffOrientation(seg[6:]); o != 0 {
				return o
			}
		}
		i += 2 + n
	}
	return 0
}

// pngOrientation reads the eXIf chunk (PNG 1.5 extension), which holds a bare TIFF
// structure.
func pngOrientation(b []byte) Orientation {
	i := 8
	for i+12 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n < 0 || n > len(b)-i-12 {
			return 0
		}
		if typ == "eXIf" {
			return tiffOrientation(b[i+8 : i+8+n])
		}
		if typ == "IEND" {
			return 0
		}
		i += 12 + n
	}
	return 0
}

// webpOrientation reads the EXIF chunk of an extended WebP (RIFF) file. Some writers
// prefix it with "Exif\0\0" as in JPEG; both are accepted.
func webpOrientation(b []byte) Orientation {
	i := 12
	for i+8 <= len(b) {
		typ := string(b[i : i+4])
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || n > len(b)-i-8 {
			return 0
		}
		if typ == "EXIF" {
			p := b[i+8 : i+8+n]
			p = bytes.TrimPrefix(p, []byte("Exif\x00\x00"))
			return tiffOrientation(p)
		}
		i += 8 + n + n&1 // chunks are padded to even sizes
	}
	return 0
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure (TIFF 6.0 §2).
func tiffOrientation(b []byte) Orientation {
	if len(b) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(b[2:]) != 42 {
		return 0
	}
	off := int64(bo.Uint32(b[4:]))
	if off < 8 || off+2 > int64(len(b)) {
		return 0
	}
	n := int64(bo.Uint16(b[off:]))
	for k := int64(0); k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(b)) {
			return 0
		}
		if bo.Uint16(b[e:]) != 0x0112 {
			continue
		}
		typ, count := bo.Uint16(b[e+2:]), bo.Uint32(b[e+4:])
		if typ != 3 || count != 1 { // SHORT, one value, stored inline
			return 0
		}
		if v := Orientation(bo.Uint16(b[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 0
	}
	return 0
}

// applyOrientation transforms img so it displays upright for the EXIF value o.
// Values 5-8 swap width and height.
func applyOrientation(img image.Image, o Orientation) image.Image {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6: // stored rotated 90° counter-clockwise: turn it 90° clockwise
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}

// storedRect maps r, a rectangle of the upright image applyOrientation makes for o,
// back to the stored image's coordinates: the pixels that land in r. sw and sh are
// the stored image's width and height.
func storedRect(r image.Rectangle, o Orientation, sw, sh int) image.Rectangle {
	if r.Empty() {
		return r
	}
	// from maps an upright pixel (x, y) to the stored pixel it comes from.
	from := func(x, y int) image.Point {
		switch o {
		case 2:
			return image.Pt(sw-1-x, y)
		case 3:
			return image.Pt(sw-1-x, sh-1-y)
		case 4:
			return image.Pt(x, sh-1-y)
		case 5:
			return image.Pt(y, x)
		case 6:
			return image.Pt(y, sh-1-x)
		case 7:
			return image.Pt(sw-1-y, sh-1-x)
		case 8:
			return image.Pt(sw-1-y, x)
		}
		return image.Pt(x, y)
	}
	a, b := from(r.Min.X, r.Min.Y), from(r.Max.X-1, r.Max.Y-1)
	return image.Rect(min(a.X, b.X), min(a.Y, b.Y), max(a.X, b.X)+1, max(a.Y, b.Y)+1)
}

// uprightSize is the size applyOrientation gives a w×h stored image.
func uprightSize(w, h int, o Orientation) (int, int) {
	if o >= 5 && o <= 8 {
		return h, w
	}
	return w, h
}
