package jpeg

import "encoding/binary"

// Huffman decoding (T.81 Annex C for the tables, F.2.2 for their use).
//
// A table is decoded three ways, fastest first:
//
//   - fast: the next lookBits bits index a table giving the symbol and its code
//     length, for every code of at most lookBits bits (nearly all codes in practice);
//   - fastAC: for AC tables, the same lookup also gives the run, the coefficient's
//     value and the total length when the code and the extra bits together fit in
//     lookBits bits (stb_image's "fast AC" idea), so a typical coefficient costs one
//     table load and one shift;
//   - slow: the canonical-code search of T.81 F.2.2.3 (Figure F.16), bit by bit, as
//     image/jpeg does it.
//
// image/jpeg does not reject over-subscribed code-length counts; it decodes them with
// an 8-bit table whose entries later codes overwrite, plus the bit-by-bit search.
// Since we must accept exactly what it accepts and produce the same samples, such a
// table is marked irregular: its fast tables stay empty and every symbol goes
// through slow, which then reproduces image/jpeg's procedure step by step.

// lookBits is the number of bits the fast tables look ahead.
const lookBits = 10

// fastEOB flags a fastAC entry for the EOB symbol.
const fastEOB = 1 << 12

// huffTable is one decoded DHT table.
type huffTable struct {
	defined bool // the table has been defined (image/jpeg: nCodes > 0)
	// stale is true from a DHT until the next scan builds the decoding tables:
	// a file may redefine a table thousands of times between two scans, and only
	// the last definition is ever used, so only it is built.
	stale  bool
	ac     bool      // an AC table (fastAC is built)
	counts [16]int32 // code-length counts of the definition
	// regular is false when the code-length counts are over-subscribed (Kraft sum
	// above 1); see the file comment.
	regular bool
	// fast[i] is symbol | length<<8 for the code that prefixes the lookBits-bit
	// value i, or 0 when no code of at most lookBits bits does.
	fast [1 << lookBits]uint16
	// fastAC[i] is value<<16 | run<<8 | codeLength<<4 | totalLength when the code
	// prefixing i has a non-zero size and code plus extra bits fit in lookBits bits,
	// or is ZRL (a zero value after a run of 15); fastEOB | codeLength<<4 |
	// codeLength for EOB; otherwise 0.
	fastAC [1 << lookBits]int32

	// image/jpeg's representation, used by slow.
	lut         [256]uint16 // symbol<<8 | (length+1) for codes of up to 8 bits
	vals        [256]uint8  // symbols in code order
	minCodes    [16]int32   // smallest code of each length (index: length-1), -1 if none
	maxCodes    [16]int32   // largest code of each length, -1 if none
	valsIndices [16]int32   // index into vals of minCodes
}

// processDHT reads Huffman table definitions (T.81 B.2.4.2) and builds their
// decoding tables. Its validation mirrors image/jpeg's.
func (d *decoder) processDHT(n int) error {
	for n > 0 {
		if n < 17 {
			return FormatError("DHT has wrong length")
		}
		p, err := d.readFull(17)
		if err != nil {
			return err
		}
		tc, th := p[0]>>4, p[0]&0x0f
		if tc > 1 {
			return FormatError("bad Tc value")
		}
		// Table B.5: baseline allows only tables 0 and 1.
		if th > 3 || (d.baseline && th > 1) {
			return FormatError("bad Th value")
		}
		var counts [16]int32
		total := 0
		for i := range counts {
			counts[i] = int32(p[i+1])
			total += int(p[i+1])
		}
		if total == 0 {
			return FormatError("Huffman table has zero length")
		}
		if total > 256 {
			return FormatError("Huffman table has excessive length")
		}
		n -= total + 17
		if n < 0 {
			return FormatError("DHT has wrong length")
		}
		vals, err := d.readFull(total)
		if err != nil {
			return err
		}
		d.huff[tc][th].define(&counts, vals, tc == 1)
	}
	return nil
}

// define records a table definition; ready builds its decoding tables.
func (h *huffTable) define(counts *[16]int32, vals []byte, ac bool) {
	h.defined, h.stale, h.ac, h.counts = true, true, ac, *counts
	copy(h.vals[:], vals)
}

// ready builds the decoding tables of the table's latest definition, once.
func (h *huffTable) ready() {
	if h.stale {
		h.build(&h.counts, h.vals[:], h.ac)
		h.stale = false
	}
}

// build derives the decoding tables from the code-length counts and symbols
// (T.81 C.2: Figures C.1 to C.3 assign canonical codes in order of length).
func (h *huffTable) build(counts *[16]int32, vals []byte, ac bool) {
	h.defined = true
	copy(h.vals[:], vals)

	// image/jpeg's 8-bit table, built exactly as it does (later codes may overwrite
	// earlier ones when the counts are over-subscribed).
	clear(h.lut[:])
	var x, code uint32
	for i := uint32(0); i < 8; i++ {
		code <<= 1
		for j := int32(0); j < counts[i]; j++ {
			base := uint8(code << (7 - i))
			v := uint16(h.vals[x])<<8 | uint16(2+i)
			for k := uint32(0); k < 1<<(7-i); k++ {
				h.lut[uint32(base)|k] = v
			}
			code++
			x++
		}
	}

	// Canonical code ranges per length (Figure F.15's MINCODE, MAXCODE, VALPTR).
	var c, index int32
	h.regular = true
	for i, n := range counts {
		if n == 0 {
			h.minCodes[i], h.maxCodes[i], h.valsIndices[i] = -1, -1, -1
		} else {
			h.minCodes[i] = c
			h.maxCodes[i] = c + n - 1
			h.valsIndices[i] = index
			c += n
			index += n
		}
		if c > 1<<(i+1) {
			h.regular = false // more codes of this length than bit patterns
		}
		c <<= 1
	}

	clear(h.fast[:])
	clear(h.fastAC[:])
	if !h.regular {
		return
	}
	// Spread each short code over every lookBits-bit value it prefixes.
	k := 0
	code32 := uint32(0)
	for l := uint32(1); l <= lookBits; l++ {
		for j := int32(0); j < counts[l-1]; j++ {
			sym := h.vals[k]
			lo := code32 << (lookBits - l)
			hi := (code32 + 1) << (lookBits - l)
			for i := lo; i < hi; i++ {
				h.fast[i] = uint16(sym) | uint16(l)<<8
				size := uint32(sym & 15)
				switch {
				case ac && sym == 0x00:
					// EOB: ends the block.
					h.fastAC[i] = fastEOB | int32(l)<<4 | int32(l)
				case ac && sym == 0xf0:
					// ZRL: a run of 16 zeros, i.e. a zero after a run of 15.
					h.fastAC[i] = 15<<8 | int32(l)<<4 | int32(l)
				}
				if ac && size != 0 && l+size <= lookBits {
					// The extra bits follow the code inside i.
					extra := (i >> (lookBits - l - size)) & (1<<size - 1)
					v := extend(extra, uint(size))
					h.fastAC[i] = v<<16 | int32(sym>>4)<<8 | int32(l)<<4 | int32(l+size)
				}
			}
			code32++
			k++
		}
		code32 <<= 1
	}
}

// extend turns s extra bits into a signed value (T.81 F.2.2.1, EXTEND): values whose
// top bit is clear are negative.
func extend(v uint32, s uint) int32 {
	x := int32(v)
	if s == 0 {
		return 0
	}
	if x < 1<<(s-1) {
		x += -1<<s + 1
	}
	return x
}

// slow decodes one symbol the way image/jpeg's decodeHuffman does when its 8-bit
// table misses: code bits one at a time against each length's code range. acc holds
// the upcoming bits left-aligned and avail is how many of them are real data (the
// rest is padding past a marker). It returns ok false where image/jpeg fails: a
// code longer than the data, no code within 16 bits, or (irregular tables) an
// index outside the symbols, where image/jpeg would panic.
func (h *huffTable) slow(acc uint64, avail int) (sym uint8, length int, ok bool) {
	if !h.regular && avail >= 8 {
		// image/jpeg consults its 8-bit table whenever 8 bits are available.
		if v := h.lut[acc>>56]; v != 0 {
			return uint8(v >> 8), int(v&0xff) - 1, true
		}
	}
	code := int32(0)
	for i := 0; i < 16; i++ {
		if i >= avail {
			return 0, 0, false
		}
		code |= int32(acc>>(63-uint(i))) & 1
		if code <= h.maxCodes[i] {
			j := h.valsIndices[i] + code - h.minCodes[i]
			if j < 0 || j >= 256 {
				return 0, 0, false
			}
			return h.vals[j], i + 1, true
		}
		code <<= 1
	}
	return 0, 0, false
}

// bitReader reads the entropy-coded segment of a scan: bytes with 0xff00 stuffing
// (T.81 F.1.2.3) up to the next marker. Bits sit left-aligned in a 64-bit
// reservoir, refilled eight bytes at a time when none of them is 0xff (libjpeg-turbo's
// jdhuff.c does the same with its fill_bit_buffer fast path).
//
// At a marker (0xff followed by anything but 0x00) or the end of the data, the
// reader stops advancing and supplies zero bits, counting them in pad. Reading past
// the real data is an error for image/jpeg; we detect it lazily — once per MCU and
// at the end of the scan — as n < pad, so the hot path carries no check.
type bitReader struct {
	data []byte
	pos  int    // next byte of data to load
	acc  uint64 // upcoming bits, left-aligned; bits below the top n are zero
	n    int    // bits in acc, padding included
	pad  int    // zero bits supplied past the end of the segment so far
}

// overrun reports whether more bits were consumed than the segment holds.
func (r *bitReader) overrun() bool { return r.n < r.pad }

// avail is the number of real data bits left in acc (negative after an overrun).
func (r *bitReader) avail() int { return r.n - r.pad }

// reset starts reading at pos with an empty reservoir.
func (r *bitReader) reset(pos int) {
	r.pos, r.acc, r.n, r.pad = pos, 0, 0, 0
}

// hasFF reports whether any byte of w is 0xff: a zero byte of ^w, found with the
// classic "haszero" bit trick.
func hasFF(w uint64) bool {
	v := ^w
	return (v-0x0101010101010101)&^v&0x8080808080808080 != 0
}

// refill tops acc up to at least 57 bits (64 with padding) and returns it; the
// caller keeps acc and n in registers between refills.
func (r *bitReader) refill(acc uint64, n int) (uint64, int) {
	data := r.data
	for n <= 56 {
		if r.pos+8 <= len(data) {
			w := binary.BigEndian.Uint64(data[r.pos:])
			if !hasFF(w) {
				k := (64 - n) >> 3 // whole bytes that fit
				s := uint(64 - n - 8*k)
				acc |= (w >> uint(n)) >> s << s
				r.pos += k
				n += 8 * k
				return acc, n
			}
		}
		if r.pos < len(data) {
			b := data[r.pos]
			if b != 0xff {
				acc |= uint64(b) << uint(56-n)
				r.pos++
				n += 8
				continue
			}
			if r.pos+1 < len(data) && data[r.pos+1] == 0x00 {
				acc |= 0xff << uint(56-n)
				r.pos += 2
				n += 8
				continue
			}
		}
		// A marker or the end of the data: pad with zeros.
		r.pad += 64 - n
		return acc, 64
	}
	return acc, n
}

// decodeSymbol decodes one Huffman symbol through r's struct fields; for the
// paths where speed matters less (progressive scans). ok is false on a Huffman
// error; an overrun is reported later by overrun.
func (r *bitReader) decodeSymbol(h *huffTable) (uint8, bool) {
	if r.n < 32 {
		r.acc, r.n = r.refill(r.acc, r.n)
	}
	if f := h.fast[r.acc>>(64-lookBits)]; f != 0 {
		l := uint(f >> 8)
		r.acc <<= l
		r.n -= int(l)
		return uint8(f), true
	}
	sym, l, ok := h.slow(r.acc, r.avail())
	if !ok {
		return 0, false
	}
	r.acc <<= uint(l)
	r.n -= l
	return sym, true
}

// bits returns the next s (at most 16) bits as an unsigned number.
func (r *bitReader) bits(s uint) uint32 {
	if s == 0 {
		return 0
	}
	if r.n < 32 {
		r.acc, r.n = r.refill(r.acc, r.n)
	}
	v := uint32(r.acc >> (64 - s))
	r.acc <<= s
	r.n -= int(s)
	return v
}

// receiveExtend reads s extra bits and extends them to a signed value (T.81
// F.2.2.1).
func (r *bitReader) receiveExtend(s uint) int32 {
	return extend(r.bits(s), s)
}
