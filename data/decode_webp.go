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

// webpChunks calls fn with each RIFF chunk of a WebP file (its FourCC, declared
// size, and body as far as the file holds it) until fn returns false. It decodes
// nothing; a malformed list ends the walk (the decoder reports it).
func webpChunks(b []byte, fn func(fourcc string, n int64, body []byte) bool) {
	if len(b) < 12 || !bytes.Equal(b[:4], []byte("RIFF")) || !bytes.Equal(b[8:12], []byte("WEBP")) {
		return
	}
	for p := 12; p+8 <= len(b); {
		n := int64(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		if !fn(string(b[p:p+4]), n, b[p+8:]) {
			return
		}
		next := int64(p) + 8 + n + n&1
		if next > int64(len(b)) {
			return
		}
		p = int(next)
	}
}

// webpLossless reports whether a WebP file holds VP8L-coded data: a VP8L image
// chunk, or an ALPH chunk whose alpha plane is VP8L-compressed (compression
// method 1).
func webpLossless(b []byte) bool { return webpLosslessKind(b) != "" }

// webpLosslessKind says what of a WebP file is VP8L-coded: "lossless" (the image),
// "lossless-coded alpha", or "" (nothing).
func webpLosslessKind(b []byte) (kind string) {
	webpChunks(b, func(fourcc string, _ int64, body []byte) bool {
		switch {
		case fourcc == "VP8L":
			kind = "lossless"
		case fourcc == "ALPH" && len(body) > 0 && body[0]&0x03 == 1:
			kind = "lossless-coded alpha"
		}
		return kind == ""
	})
	return kind
}

// maxVP8Bytes is the most data a lossy WebP's VP8 chunk may hold: what
// golang.org/x/image/vp8 accepts in one token partition, all an encoder such as
// cwebp writes. Its decoder's work grows with the data (up to the tokens every
// coefficient can carry) and cannot be stopped; a file that splits up to eight
// times as much over several partitions is refused instead of decoded for seconds.
const maxVP8Bytes = 1 << 24

// webpVP8Size is the declared size of a WebP file's VP8 (lossy) chunk, or 0.
func webpVP8Size(b []byte) (size int64) {
	webpChunks(b, func(fourcc string, n int64, _ []byte) bool {
		if fourcc == "VP8 " {
			size = n
			return false
		}
		return true
	})
	return size
}
