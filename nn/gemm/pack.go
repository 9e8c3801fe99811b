package gemm

// Packing copies a block of op(A) or op(B) into the contiguous micro-panel layout the
// kernels stream (Goto & van de Geijn 2008, §4): every micro-panel is read with unit
// stride, and ragged edges are padded with zeros so kernels never branch on them.

// packA copies rows [r0, r0+rows) × columns [p0, p0+kc) of op(A) into dst as mr-row
// micro-panels: panel q holds op(A)[r0+q·mr+i][p0+p] at dst[q·mr·kc + p·mr + i], rows past
// the end are zero. dst needs ceil(rows/mr)·mr·kc elements.
func packA(dst []float32, transA bool, a []float32, lda, r0, rows, p0, kc, mr int) {
	for q := 0; q*mr < rows; q++ {
		panel := dst[q*mr*kc : (q+1)*mr*kc]
		live := min(mr, rows-q*mr)
		rq := r0 + q*mr
		if transA {
			// op(A)[r][p] = a[p·lda + r]: each k step is a contiguous run of rows.
			if live == mr {
				copyRuns(panel, mr, a, (p0*lda)+rq, lda, kc)
				continue
			}
			for p := 0; p < kc; p++ {
				d := panel[p*mr : p*mr+mr]
				s := a[(p0+p)*lda+rq:]
				copy(d[:live], s[:live])
				clear(d[live:])
			}
			continue
		}
		// op(A)[r][p] = a[r·lda + p]: each row is contiguous, scattered with stride mr.
		if live == mr && (mr == 8 || mr == 6 || mr == 4) {
			packRows(panel, mr, a, rq*lda+p0, lda, kc, mr)
			continue
		}
		for i := 0; i < live; i++ {
			s := a[(rq+i)*lda+p0 : (rq+i)*lda+p0+kc]
			for p, v := range s {
				panel[p*mr+i] = v
			}
		}
		if live < mr {
			for p := 0; p < kc; p++ {
				clear(panel[p*mr+live : p*mr+mr])
			}
		}
	}
}

// packB copies rows [p0, p0+kc) × columns [c0, c0+cols) of op(B) into dst as nr-column
// micro-panels: panel q holds op(B)[p0+p][c0+q·nr+j] at dst[q·nr·kc + p·nr + j], columns
// past the end are zero. dst needs ceil(cols/nr)·nr·kc elements.
func packB(dst []float32, transB bool, b []float32, ldb, p0, kc, c0, cols, nr int) {
	for q := 0; q*nr < cols; q++ {
		panel := dst[q*nr*kc : (q+1)*nr*kc]
		live := min(nr, cols-q*nr)
		cq := c0 + q*nr
		if !transB {
			// op(B)[p][j] = b[p·ldb + j]: each k step is a contiguous run of columns.
			if live == nr {
				copyRuns(panel, nr, b, p0*ldb+cq, ldb, kc)
				continue
			}
			for p := 0; p < kc; p++ {
				d := panel[p*nr : p*nr+nr]
				s := b[(p0+p)*ldb+cq:]
				copy(d[:live], s[:live])
				clear(d[live:])
			}
			continue
		}
		// op(B)[p][j] = b[j·ldb + p]: each column is contiguous, scattered with stride nr;
		// eight at a time through packRows, the rest one by one.
		// The k range goes in chunks of 64 so that the panel lines being filled
		// (64·nr floats, 8 KB for nr=32) stay in L1 across the column groups.
		j8 := live / 8 * 8
		for pb := 0; pb < kc; pb += 64 {
			for j := 0; j < j8; j += 8 {
				packRows(panel[pb*nr+j:], nr, b, (cq+j)*ldb+p0+pb, ldb, min(64, kc-pb), 8)
			}
		}
		for j := j8; j < live; j++ {
			s := b[(cq+j)*ldb+p0 : (cq+j)*ldb+p0+kc]
			for p, v := range s {
				panel[p*nr+j] = v
			}
		}
		if live < nr {
			for p := 0; p < kc; p++ {
				clear(panel[p*nr+live : p*nr+nr])
			}
		}
	}
}

// packRows interleaves w ∈ {4, 6, 8} rows of length kc starting at a[off] (row stride
// lda) into panel: k step p's w values go to panel[p·stride:]. Unrolled per w, it is
// several times faster than a strided scatter, which matters when the operand packed this
// way is much larger than the other (the deep, narrow GEMMs of ResNet50's last stages).
func packRows(panel []float32, stride int, a []float32, off, lda, kc, w int) {
	r0 := a[off : off+kc]
	r1 := a[off+lda : off+lda+kc]
	r2 := a[off+2*lda : off+2*lda+kc]
	r3 := a[off+3*lda : off+3*lda+kc]
	switch w {
	case 4:
		for p := range r0 {
			d := panel[p*stride : p*stride+4 : p*stride+4]
			d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		}
	case 6:
		r4 := a[off+4*lda : off+4*lda+kc]
		r5 := a[off+5*lda : off+5*lda+kc]
		for p := range r0 {
			d := panel[p*stride : p*stride+6 : p*stride+6]
			d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
		}
	case 8:
		packRows8(panel, stride, a, off, lda, kc)
	}
}

// packRows8 is packRows for w = 8: packRows8Go, or an assembly version where the CPU
// has one (kernel_amd64.go).
var packRows8 = packRows8Go

// packRows8Go is packRows for w = 8 in plain Go, the twin of the assembly transposers.
func packRows8Go(panel []float32, stride int, a []float32, off, lda, kc int) {
	r0 := a[off : off+kc]
	r1 := a[off+lda : off+lda+kc]
	r2 := a[off+2*lda : off+2*lda+kc]
	r3 := a[off+3*lda : off+3*lda+kc]
	r4 := a[off+4*lda : off+4*lda+kc]
	r5 := a[off+5*lda : off+5*lda+kc]
	r6 := a[off+6*lda : off+6*lda+kc]
	r7 := a[off+7*lda : off+7*lda+kc]
	for p := range r0 {
		d := panel[p*stride : p*stride+8 : p*stride+8]
		d[0], d[1], d[2], d[3] = r0[p], r1[p], r2[p], r3[p]
		d[4], d[5], d[6], d[7] = r4[p], r5[p], r6[p], r7[p]
	}
}

// copyRuns copies kc runs of w contiguous floats, src[off+p·ld:][:w] to dst[p·w:], for
// w ∈ {4, 6, 8, 16, 32} as fixed-size array moves through a local, which the compiler
// inlines as vector moves (copy, or a direct array assignment between two slices that
// might overlap, calls memmove once per 16-128 bytes); other widths use copy.
func copyRuns(dst []float32, w int, src []float32, off, ld, kc int) {
	switch w {
	case 32:
		for p := 0; p < kc; p++ {
			v := *(*[32]float32)(src[off+p*ld:])
			*(*[32]float32)(dst[p*32:]) = v
		}
	case 16:
		for p := 0; p < kc; p++ {
			v := *(*[16]float32)(src[off+p*ld:])
			*(*[16]float32)(dst[p*16:]) = v
		}
	case 8:
		for p := 0; p < kc; p++ {
			v := *(*[8]float32)(src[off+p*ld:])
			*(*[8]float32)(dst[p*8:]) = v
		}
	case 6:
		for p := 0; p < kc; p++ {
			v := *(*[6]float32)(src[off+p*ld:])
			*(*[6]float32)(dst[p*6:]) = v
		}
	case 4:
		for p := 0; p < kc; p++ {
			v := *(*[4]float32)(src[off+p*ld:])
			*(*[4]float32)(dst[p*4:]) = v
		}
	default:
		for p := 0; p < kc; p++ {
			copy(dst[p*w:p*w+w], src[off+p*ld:])
		}
	}
}
