package jpeg

import (
	"encoding/binary"
	"image"
)

// scanComp is one component of a scan header (T.81 B.2.3).
type scanComp struct {
	ci     int // index into decoder.comp
	td, ta uint8
}

// scan is a parsed scan header.
type scan struct {
	n                  int // components in the scan
	comps              [maxComponents]scanComp
	zigStart, zigEnd   int // spectral selection Ss, Se
	ah, al             uint
	mcusTotal, mxx, my int
}

// processSOS reads a scan header (T.81 B.2.3) and decodes the scan that follows.
// The validation is image/jpeg's, so that the same streams fail.
func (d *decoder) processSOS(n int) error {
	if d.nComp == 0 {
		return FormatError("missing SOF marker")
	}
	if n < 6 || 4+2*d.nComp < n || n%2 != 0 {
		return FormatError("SOS has wrong length")
	}
	p, err := d.readFull(n)
	if err != nil {
		return err
	}
	for i := range d.huff {
		for j := range d.huff[i] {
			d.huff[i][j].ready()
		}
	}
	var s scan
	s.n = int(p[0])
	if n != 4+2*s.n {
		return FormatError("SOS length inconsistent with number of components")
	}
	totalHV := 0
	for i := 0; i < s.n; i++ {
		cs := p[1+2*i]
		ci := -1
		for j := 0; j < d.nComp; j++ {
			if d.comp[j].id == cs {
				ci = j
			}
		}
		if ci < 0 {
			return FormatError("unknown component selector")
		}
		for j := 0; j < i; j++ {
			if s.comps[j].ci == ci {
				return FormatError("repeated component selector")
			}
		}
		s.comps[i].ci = ci
		totalHV += d.comp[ci].h * d.comp[ci].v
		// Table B.3: baseline allows only tables 0 and 1.
		s.comps[i].td = p[2+2*i] >> 4
		if t := s.comps[i].td; t > 3 || (d.baseline && t > 1) {
			return FormatError("bad Td value")
		}
		s.comps[i].ta = p[2+2*i] & 0x0f
		if t := s.comps[i].ta; t > 3 || (d.baseline && t > 1) {
			return FormatError("bad Ta value")
		}
	}
	if d.nComp > 1 && totalHV > 10 {
		return FormatError("total sampling factors too large")
	}
	s.zigStart, s.zigEnd = 0, 63
	if d.progressive {
		s.zigStart, s.zigEnd = int(p[1+2*s.n]), int(p[2+2*s.n])
		s.ah, s.al = uint(p[3+2*s.n]>>4), uint(p[3+2*s.n]&0x0f)
		if (s.zigStart == 0 && s.zigEnd != 0) || s.zigStart > s.zigEnd || 64 <= s.zigEnd {
			return FormatError("bad spectral selection bounds")
		}
		if s.zigStart != 0 && s.n != 1 {
			return FormatError("progressive AC coefficients for more than one component")
		}
		if s.ah != 0 && s.ah != s.al+1 {
			return FormatError("bad successive approximation values")
		}
	}

	if err := d.cancel.err(); err != nil {
		return err
	}
	var cis [maxComponents]int
	for i := 0; i < s.n; i++ {
		cis[i] = s.comps[i].ci
	}
	if err := d.work.charge(&d.geom, cis[:s.n], s.zigStart, s.zigEnd); err != nil {
		return err
	}
	if d.gray == nil && d.ycc == nil {
		if err := d.cheapScanCheck(&s); err != nil {
			return err
		}
		d.makeImage()
	}
	if d.progressive {
		return d.decodeProgressiveScan(&s)
	}
	return d.decodeSequentialScan(&s)
}

// cheapScanCheck rejects, before the image is allocated, a first scan that cannot
// possibly hold its blocks: every block of a scan that codes DC terms costs at least
// one bit (a Huffman code), so a header announcing a huge image over a few bytes of
// data fails here (as image/jpeg would fail later, after allocating the image).
//
// A progressive AC scan can skip many blocks with one end-of-band run: EOBn costs
// at least 1+n bits and covers at most 2^(n+1)-1 blocks, at most 2185 blocks per
// bit (n = 14), which still bounds what a few bytes can announce.
func (d *decoder) cheapScanCheck(s *scan) error {
	blocksPerBit := 1
	if s.zigStart != 0 {
		blocksPerBit = 2185
	}
	h0, v0 := d.comp[0].h, d.comp[0].v
	mxx := (d.width + 8*h0 - 1) / (8 * h0)
	myy := (d.height + 8*v0 - 1) / (8 * v0)
	c := d.comp[s.comps[0].ci]
	// The blocks image/jpeg decodes in this scan: at least one per MCU when
	// interleaved; when not, those of the MCU grid it does not skip.
	blocks := mxx * myy
	if s.n == 1 {
		blocks = min(mxx*c.h, (d.width+7)/8) * min(myy*c.v, (d.height+7)/8)
	}
	if blocks > blocksPerBit*8*(len(d.data)-d.pos) {
		return FormatError("short Huffman data")
	}
	return nil
}

// makeImage allocates the output planes, as image/jpeg's makeImg does (whole MCUs,
// then a sub-image of the real size), scaled down by d.scale, and works out which
// blocks of each component the caller's Region needs.
func (d *decoder) makeImage() {
	h0, v0 := d.comp[0].h, d.comp[0].v
	d.mxx = (d.width + 8*h0 - 1) / (8 * h0)
	d.myy = (d.height + 8*v0 - 1) / (8 * v0)
	bs := d.bs
	outW := (d.width + d.scale - 1) / d.scale
	outH := (d.height + d.scale - 1) / d.scale
	if d.nComp == 1 {
		m := image.NewGray(image.Rect(0, 0, bs*d.mxx, bs*d.myy))
		d.planes[0], d.strides[0] = m.Pix, m.Stride
		d.gray = m.SubImage(image.Rect(0, 0, outW, outH)).(*image.Gray)
	} else {
		var ratio image.YCbCrSubsampleRatio
		switch (h0/d.comp[1].h)<<4 | v0/d.comp[1].v {
		case 0x11:
			ratio = image.YCbCrSubsampleRatio444
		case 0x12:
			ratio = image.YCbCrSubsampleRatio440
		case 0x21:
			ratio = image.YCbCrSubsampleRatio422
		case 0x22:
			ratio = image.YCbCrSubsampleRatio420
		case 0x41:
			ratio = image.YCbCrSubsampleRatio411
		case 0x42:
			ratio = image.YCbCrSubsampleRatio410
		}
		m := image.NewYCbCr(image.Rect(0, 0, bs*h0*d.mxx, bs*v0*d.myy), ratio)
		d.planes[0], d.strides[0] = m.Y, m.YStride
		d.planes[1], d.strides[1] = m.Cb, m.CStride
		d.planes[2], d.strides[2] = m.Cr, m.CStride
		d.ycc = m.SubImage(image.Rect(0, 0, outW, outH)).(*image.YCbCr)
		if d.nComp == 4 {
			h3, v3 := d.comp[3].h, d.comp[3].v
			d.strides[3] = bs * h3 * d.mxx
			d.planes[3] = make([]byte, d.strides[3]*bs*v3*d.myy)
		}
	}
	for i := 0; i < d.nComp; i++ {
		rb := &d.regionBlocks[i]
		rb[0], rb[1], rb[2], rb[3] = 0, 0, 1<<30, 1<<30
		if r := d.opts.Region; !r.Empty() {
			// A block of component i covers bs·(h0/h) output pixels across.
			bw := bs * h0 / d.comp[i].h
			bh := bs * v0 / d.comp[i].v
			rb[0] = max(r.Min.X, 0) / bw
			rb[1] = max(r.Min.Y, 0) / bh
			rb[2] = (max(r.Max.X, 0) + bw - 1) / bw
			rb[3] = (max(r.Max.Y, 0) + bh - 1) / bh
		}
	}
}

// wanted reports whether the caller's Region needs block (bx, by) of component ci.
func (d *decoder) wanted(ci, bx, by int) bool {
	rb := &d.regionBlocks[ci]
	return rb[0] <= bx && bx < rb[2] && rb[1] <= by && by < rb[3]
}

// storeBlock reconstructs the dequantized block d.blk into component ci's plane at
// block (bx, by) at the output scale, or just clears it when the Region does not
// need it.
func (d *decoder) storeBlock(b *block, mask uint32, ci, bx, by int) {
	if !d.wanted(ci, bx, by) {
		clearRows(b, mask)
		return
	}
	bs, stride := d.bs, d.strides[ci]
	dst := d.planes[ci][by*bs*stride+bx*bs:]
	switch bs {
	case 8:
		idct8(b, mask, dst, stride)
	case 4:
		idct4(b, mask, dst, stride)
	case 2:
		idct2(b, mask, dst, stride)
	default:
		idct1(b, mask, dst)
	}
}

// errShortHuffman is image/jpeg's error for entropy-coded data that ends too soon.
var errShortHuffman = FormatError("short Huffman data")

// decodeSequentialScan decodes a baseline or extended sequential scan, storing each
// block as soon as it is decoded. The MCU walk is image/jpeg's, quirks included: a
// single-component scan visits the blocks of whole MCUs in raster order and skips
// those outside the image, and the restart interval counts those whole MCUs.
func (d *decoder) decodeSequentialScan(s *scan) error {
	var r bitReader
	r.data = d.data
	r.reset(d.pos)
	var dc [maxComponents]int32
	mcu, expectedRST := 0, byte(rst0Marker)
	mcus := d.mxx * d.myy
	// bx, by for single-component scans, which walk blocks in raster order.
	sbx, sby := 0, 0
	for my := 0; my < d.myy; my++ {
		if err := d.cancel.err(); err != nil {
			return err
		}
		for mx := 0; mx < d.mxx; mx++ {
			for i := 0; i < s.n; i++ {
				sc := &s.comps[i]
				ci := sc.ci
				c := &d.comp[ci]
				dcT, acT := &d.huff[0][sc.td], &d.huff[1][sc.ta]
				q := &d.quant[c.tq]
				for j := 0; j < c.h*c.v; j++ {
					var bx, by int
					if s.n != 1 {
						bx = c.h*mx + j%c.h
						by = c.v*my + j/c.h
					} else {
						bx, by = sbx, sby
						if sbx++; sbx == d.mxx*c.h {
							sbx, sby = 0, sby+1
						}
						if bx*8 >= d.width || by*8 >= d.height {
							continue
						}
					}
					mask, err := d.decodeBlock(&r, dcT, acT, q, &dc[ci])
					if err != nil {
						return err
					}
					d.storeBlock(&d.blk, mask, ci, bx, by)
				}
			}
			var err error
			if mcu, err = d.endMCU(&r, mcu, mcus, &expectedRST, &dc); err != nil {
				return err
			}
		}
	}
	d.pos = r.pos
	return nil
}

// endMCU is what follows every MCU of a scan: a check that the entropy decoder did
// not read past its data, then, at the end of each restart interval but the last,
// the RSTn marker and a reset of the DC predictions (T.81 F.1.2.3). It returns the
// count of MCUs done.
func (d *decoder) endMCU(r *bitReader, mcu, mcus int, expectedRST *byte, dc *[maxComponents]int32) (int, error) {
	if r.overrun() {
		return mcu, errShortHuffman
	}
	mcu++
	if d.ri > 0 && mcu%d.ri == 0 && mcu < mcus {
		if err := d.restart(r, expectedRST); err != nil {
			return mcu, err
		}
		*dc = [maxComponents]int32{}
	}
	return mcu, nil
}

// restart consumes the RSTn marker that ends a restart interval (T.81 F.1.2.3 and
// B.2.1), resynchronising like image/jpeg's findRST: data bytes before the marker
// are skipped, and any marker other than the expected RSTn is an error. The
// reservoir's leftover bits (padding) are dropped and the end-of-band run is reset.
func (d *decoder) restart(r *bitReader, expected *byte) error {
	// Our reader never loads bytes past a marker, so r.pos is either inside the
	// segment's data or at the marker itself; image/jpeg's search from its own
	// (earlier or equal) position finds the same marker.
	pos := r.pos
	data := d.data
	for {
		if pos+1 >= len(data) {
			return errShortData
		}
		if data[pos] != 0xff {
			pos++
			continue
		}
		switch m := data[pos+1]; {
		case m == *expected:
			pos += 2
		case m == 0x00:
			pos += 2
			continue
		case m == 0xff:
			pos++
			continue
		default:
			return FormatError("bad RST marker")
		}
		break
	}
	if *expected++; *expected > rst7Marker {
		*expected = rst0Marker
	}
	r.reset(pos)
	d.eobRun = 0
	return nil
}

// decodeBlock decodes one block of a sequential scan into d.blk, dequantized, and
// returns its row mask (see zigMask). It follows image/jpeg's decoding exactly,
// including what it does with malformed streams: a run that overshoots the block
// ends it without reading the value's bits, and EOBn symbols start an end-of-band
// run that skips the AC terms of the next blocks.
func (d *decoder) decodeBlock(r *bitReader, dcT, acT *huffTable, q *[64]int32, pred *int32) (uint32, error) {
	if !dcT.defined {
		return 0, FormatError("uninitialized Huffman table")
	}
	b := &d.blk
	acc, n := r.acc, r.n
	if n < 32 {
		acc, n = r.refill(acc, n)
	}
	// DC: a size category, then that many bits of difference (T.81 F.2.2.1).
	var s uint
	if f := dcT.fast[acc>>(64-lookBits)]; f != 0 {
		s = uint(f & 0xff)
		l := uint(f >> 8)
		acc <<= l
		n -= int(l)
	} else {
		sym, l, ok := dcT.slow(acc, n-r.pad)
		if !ok {
			return 0, FormatError("bad Huffman code")
		}
		s = uint(sym)
		acc <<= uint(l)
		n -= l
	}
	if s > 16 {
		return 0, FormatError("excessive DC component")
	}
	if s != 0 {
		*pred += extend(uint32(acc>>(64-s)), s)
		acc <<= s
		n -= int(s)
	}
	b[0] = *pred * q[0]
	mask := uint32(1)

	if d.eobRun > 0 {
		d.eobRun--
		r.acc, r.n = acc, n
		return mask, nil
	}
	if !acT.defined {
		r.acc, r.n = acc, n
		return 0, FormatError("uninitialized Huffman table")
	}
	// AC: run/size symbols (T.81 F.2.2.2).
	data := r.data
	for k := 1; k < 64; {
		if n < 32 {
			// refill's fast case, inlined: eight bytes without 0xff.
			if p := r.pos; p+8 <= len(data) {
				if w := binary.BigEndian.Uint64(data[p:]); !hasFF(w) {
					nb := (64 - n) >> 3
					s := uint(64 - n - 8*nb)
					acc |= (w >> uint(n)) >> s << s
					r.pos = p + nb
					n += 8 * nb
				} else {
					acc, n = r.refill(acc, n)
				}
			} else {
				acc, n = r.refill(acc, n)
			}
		}
		if e := acT.fastAC[acc>>(64-lookBits)]; e != 0 {
			if e&fastEOB != 0 {
				l := uint(e) & 15
				acc <<= l
				n -= int(l)
				break
			}
			k += int(e>>8) & 15
			if k > 63 {
				// The run overshoots: image/jpeg stops without reading the value.
				l := uint(e>>4) & 15
				acc <<= l
				n -= int(l)
				break
			}
			l := uint(e) & 15
			acc <<= l
			n -= int(l)
			zi := zigInfo[k&63]
			b[zi&63] = (e >> 16) * q[k&63]
			mask |= zi >> 8
			k++
			continue
		}
		var sym uint8
		if f := acT.fast[acc>>(64-lookBits)]; f != 0 {
			sym = uint8(f)
			l := uint(f >> 8)
			acc <<= l
			n -= int(l)
		} else {
			var l int
			var ok bool
			sym, l, ok = acT.slow(acc, n-r.pad)
			if !ok {
				r.acc, r.n = acc, n
				return 0, FormatError("bad Huffman code")
			}
			acc <<= uint(l)
			n -= l
		}
		run, size := int(sym>>4), uint(sym&15)
		if size != 0 {
			k += run
			if k > 63 {
				break
			}
			v := extend(uint32(acc>>(64-size)), size)
			acc <<= size
			n -= int(size)
			zi := zigInfo[k&63]
			b[zi&63] = v * q[k&63]
			mask |= zi >> 8
			k++
			continue
		}
		if run != 15 {
			// EOB (run 0) or, for image/jpeg even in sequential scans, EOBn: an
			// end-of-band run of 2^run plus run extra bits, this block included.
			eob := uint16(1) << run
			if run != 0 {
				eob |= uint16(acc >> (64 - uint(run)))
				acc <<= uint(run)
				n -= run
			}
			d.eobRun = eob - 1
			break
		}
		k += 16 // ZRL: sixteen zeros
	}
	r.acc, r.n = acc, n
	return mask, nil
}
