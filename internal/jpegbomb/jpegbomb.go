// Package jpegbomb builds hostile JPEGs in memory for tests: files of a few hundred
// kilobytes whose scans ask a decoder for minutes of work.
package jpegbomb

// Scans builds a w×h progressive JPEG of nComp components made of `scans`
// first AC scans that skip every block with end-of-band runs: a few bytes a scan,
// each walking the whole frame. With 4 components it has no Adobe marker, so a
// decoder that gets to the end refuses it for its unknown colour model.
func Scans(w, h, nComp, scans int) []byte {
	seg := func(marker byte, payload ...byte) []byte {
		n := len(payload) + 2
		return append([]byte{0xff, marker, byte(n >> 8), byte(n)}, payload...)
	}
	out := []byte{0xff, 0xd8}
	q := make([]byte, 65)
	for i := 1; i < 65; i++ {
		q[i] = 1
	}
	out = append(out, seg(0xdb, q...)...)
	// AC table 0: one code, "0", for EOB14 (an end-of-band run of 2^14 + 14 bits).
	dht := append([]byte{0x10, 1}, make([]byte, 15)...)
	out = append(out, seg(0xc4, append(dht, 0xe0)...)...)
	f := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(nComp)}
	for i := 0; i < nComp; i++ {
		f = append(f, byte(i+1), 0x11, 0)
	}
	out = append(out, seg(0xc2, f...)...)
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	for s := 0; s < scans; s++ {
		out = append(out, seg(0xda, 1, byte(s%nComp+1), 0x00, 1, 63, 0)...)
		// "0" then fourteen ones: a run of 32767 blocks in fifteen bits.
		var acc, nacc uint
		put := func(b uint) {
			acc, nacc = acc<<1|b, nacc+1
			if nacc == 8 {
				out = append(out, byte(acc))
				if byte(acc) == 0xff {
					out = append(out, 0) // byte stuffing
				}
				acc, nacc = 0, 0
			}
		}
		for n := 0; n < blocks; n += 32767 {
			put(0)
			for i := 0; i < 14; i++ {
				put(1)
			}
		}
		for nacc != 0 {
			put(1)
		}
	}
	return append(out, 0xff, 0xd9)
}
