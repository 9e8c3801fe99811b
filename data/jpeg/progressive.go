package jpeg

import "math/bits"

// Progressive decoding (T.81 Annex G). Each scan adds to coefficients kept per
// block: spectral selection sends a band [Ss, Se] of zig-zag positions, successive
// approximation sends their high bits first (Ah = 0, point transform Al) and then
// one more bit per refinement scan (Ah = Al+1). Samples are made once, at EOI, from
// the final coefficients, as image/jpeg does; the semantics below (end-of-band runs,
// the refinement of non-zero coefficients, errors) follow image/jpeg's scan.go so
// that the output and the set of rejected streams are the same.

// errUninitializedHuffman is image/jpeg's error for a scan using an undefined table.
var errUninitializedHuffman = FormatError("uninitialized Huffman table")

// decodeProgressiveScan decodes one scan of a progressive JPEG into d.coeffs.
func (d *decoder) decodeProgressiveScan(s *scan) error {
	for i := 0; i < s.n; i++ {
		ci := s.comps[i].ci
		if d.coeffs[ci] == nil {
			c := &d.comp[ci]
			d.coeffs[ci] = make([]int32, 64*d.mxx*d.myy*c.h*c.v)
			d.nonzero[ci] = make([]uint64, d.mxx*d.myy*c.h*c.v)
			d.dcs[ci] = make([]int32, d.mxx*d.myy*c.h*c.v)
		}
	}
	var r bitReader
	r.data = d.data
	r.reset(d.pos)
	var dc [maxComponents]int32
	mcu, expectedRST := 0, byte(rst0Marker)
	mcus := d.mxx * d.myy
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
					off := 64 * (by*d.mxx*c.h + bx)
					b := (*[64]int32)(d.coeffs[ci][off : off+64])
					nz, dcv := &d.nonzero[ci][off/64], &d.dcs[ci][off/64]
					var err error
					if s.ah != 0 {
						err = d.refine(&r, b, nz, dcv, &d.huff[1][sc.ta], s.zigStart, s.zigEnd, int32(1)<<s.al)
					} else {
						err = d.decodeFirst(&r, b, nz, dcv, sc, s, &dc[ci])
					}
					if err != nil {
						return err
					}
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

// decodeFirst decodes a block's first pass over the band of scan s (Ah = 0):
// DC difference and/or AC run/size symbols, values shifted left by Al (T.81
// G.1.2.1, G.1.2.2). nz is the block's non-zero mask (AC terms) and dcv its DC
// coefficient.
func (d *decoder) decodeFirst(r *bitReader, b *[64]int32, nz *uint64, dcv *int32, sc *scanComp, s *scan, pred *int32) error {
	zig := s.zigStart
	if zig == 0 {
		zig++
		h := &d.huff[0][sc.td]
		if !h.defined {
			return errUninitializedHuffman
		}
		t, ok := r.decodeSymbol(h)
		if !ok {
			return FormatError("bad Huffman code")
		}
		if t > 16 {
			return FormatError("excessive DC component")
		}
		*pred += r.receiveExtend(uint(t))
		*dcv = *pred << s.al
	}
	if zig <= s.zigEnd && d.eobRun > 0 {
		d.eobRun--
		return nil
	}
	h := &d.huff[1][sc.ta]
	for ; zig <= s.zigEnd; zig++ {
		if !h.defined {
			return errUninitializedHuffman
		}
		v, ok := r.decodeSymbol(h)
		if !ok {
			return FormatError("bad Huffman code")
		}
		run, size := int(v>>4), uint(v&15)
		if size != 0 {
			zig += run
			if zig > s.zigEnd {
				break
			}
			b[unzig[zig&63]] = r.receiveExtend(size) << s.al
			*nz |= 1 << uint(zig&63)
			continue
		}
		if run != 15 {
			// EOBn: this block and 2^run - 1 + (run bits) more have no more
			// coefficients in this band.
			d.eobRun = uint16(1)<<run | uint16(r.bits(uint(run)))
			d.eobRun--
			break
		}
		zig += 15 // ZRL
	}
	return nil
}

// refine decodes a successive-approximation refinement pass (T.81 G.1.2.3): one
// more bit of every coefficient already non-zero in the band, and new coefficients
// of magnitude delta placed among the zero ones. nz is the block's non-zero mask
// (AC terms) and dcv its DC coefficient.
func (d *decoder) refine(r *bitReader, b *[64]int32, nz *uint64, dcv *int32, h *huffTable, zigStart, zigEnd int, delta int32) error {
	if zigStart == 0 {
		// DC: one bit, appended.
		if r.bits(1) != 0 {
			*dcv |= delta
		}
		return nil
	}
	zig := zigStart
	if d.eobRun == 0 {
	loop:
		for ; zig <= zigEnd; zig++ {
			if !h.defined {
				return errUninitializedHuffman
			}
			v, ok := r.decodeSymbol(h)
			if !ok {
				return FormatError("bad Huffman code")
			}
			run, size := int(v>>4), v&15
			z := int32(0)
			switch size {
			case 0:
				if run != 15 {
					d.eobRun = uint16(1)<<run | uint16(r.bits(uint(run)))
					break loop
				}
				// ZRL: skip 16 zero coefficients, refining the non-zero ones met.
			case 1:
				z = delta
				if r.bits(1) == 0 {
					z = -z
				}
			default:
				return FormatError("unexpected Huffman code")
			}
			zig = d.refineNonZeroes(r, b, zig, zigEnd, run, delta)
			if zig > zigEnd {
				return FormatError("too many coefficients")
			}
			if z != 0 {
				b[unzig[zig&63]] = z
				*nz |= 1 << uint(zig&63)
			}
		}
	}
	if d.eobRun > 0 {
		d.eobRun--
		refineRest(r, b, *nz, zig, zigEnd, delta)
	}
	return nil
}

// refineRest is refineNonZeroes to the band's end: the correction bits of the
// non-zero coefficients from zig to zigEnd, in order, found from the block's
// non-zero mask nz instead of by walking the band. A coefficient never returns to
// zero once set, so the mask is exact.
func refineRest(r *bitReader, b *[64]int32, nz uint64, zig, zigEnd int, delta int32) {
	if zig > zigEnd {
		return
	}
	m := nz >> uint(zig) << uint(zig)
	if zigEnd < 63 {
		m &= 1<<uint(zigEnd+1) - 1
	}
	for ; m != 0; m &= m - 1 {
		u := unzig[bits.TrailingZeros64(m)&63]
		if r.bits(1) == 0 {
			continue
		}
		if b[u] >= 0 {
			b[u] += delta
		} else {
			b[u] -= delta
		}
	}
}

// refineNonZeroes walks the band from zig, appending a correction bit to each
// non-zero coefficient (away from zero), until it has passed nz zero coefficients
// and reached the next zero one (nz < 0: to the band's end). It returns the
// position reached.
func (d *decoder) refineNonZeroes(r *bitReader, b *[64]int32, zig, zigEnd, nz int, delta int32) int {
	for ; zig <= zigEnd; zig++ {
		u := unzig[zig&63]
		if b[u] == 0 {
			if nz == 0 {
				break
			}
			nz--
			continue
		}
		if r.bits(1) == 0 {
			continue
		}
		if b[u] >= 0 {
			b[u] += delta
		} else {
			b[u] -= delta
		}
	}
	return zig
}

// reconstructProgressive dequantizes and inverse-transforms the accumulated
// coefficients into the planes, visiting the blocks image/jpeg visits (those
// starting inside the image) and skipping those the Region does not need.
// Components no scan mentioned stay zero, as in image/jpeg. It stops with the
// context's error, checked every block row.
func (d *decoder) reconstructProgressive() error {
	h0, v0 := d.comp[0].h, d.comp[0].v
	for ci := 0; ci < d.nComp; ci++ {
		coeffs := d.coeffs[ci]
		if coeffs == nil {
			continue
		}
		c := &d.comp[ci]
		bw, bh := 8*h0/c.h, 8*v0/c.v // pixels a block spans at full scale
		stride := d.mxx * c.h
		q := &d.quant[c.tq]
		for by := 0; by*bh < d.height; by++ {
			if err := d.cancel.err(); err != nil {
				return err
			}
			for bx := 0; bx*bw < d.width; bx++ {
				if !d.wanted(ci, bx, by) {
					continue
				}
				off := 64 * (by*stride + bx)
				src := (*[64]int32)(coeffs[off : off+64])
				src[0] = d.dcs[ci][off/64]
				mask := uint32(1)
				for zig := 0; zig < 64; zig++ {
					zi := zigInfo[zig]
					if v := src[zi&63]; v != 0 {
						d.blk[zi&63] = v * q[zig]
						mask |= zi >> 8
					}
				}
				d.storeBlock(&d.blk, mask, ci, bx, by)
			}
		}
	}
	return nil
}
