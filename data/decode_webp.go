package data

import (
	"bytes"
	"encoding/binary"
)

// losslessWebPNum/losslessWebPDen is the share of the pixel cap
// (DecodeOptions.MaxPixels) a WebP whose pixels or alpha are VP8L-coded (lossless)
// may have.
// golang.org/x/image's VP8L decoder can be neither bounded nor cancelled once it
// starts, and it spends more per pixel than any other decoder here: a file of a few
// dozen bytes (zero-length Huffman codes, every transform) decodes a full frame at
// its slowest. Scaling the cap keeps that worst case within the CPU the pixel cap
// allows other formats, and raising MaxPixels raises both.
const losslessWebPNum, losslessWebPDen = 1, 4

// webpLossless reports whether a WebP file holds VP8L-coded data: a VP8L image
// chunk, or an ALPH chunk whose alpha plane is VP8L-compressed (compression
// method 1). It walks the RIFF chunks without decoding; a malformed list ends
// the walk (the decoder reports it).
func webpLossless(b []byte) bool {
	if len(b) < 12 || !bytes.Equal(b[:4], []byte("RIFF")) || !bytes.Equal(b[8:12], []byte("WEBP")) {
		return false
	}
	for p := 12; p+8 <= len(b); {
		fourcc := string(b[p : p+4])
		n := int64(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		body := b[p+8:]
		switch fourcc {
		case "VP8L":
			return true
		case "ALPH":
			if len(body) > 0 && body[0]&0x03 == 1 {
				return true
			}
		}
		next := int64(p) + 8 + n + n&1
		if next > int64(len(b)) {
			break
		}
		p = int(next)
	}
	return false
}
