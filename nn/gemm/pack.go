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
			for p := 0; p < kc; p++ {
				d := panel[p*mr : p*mr+mr]
				s := a[(p0+p)*lda+rq:]
				copy(d[:live], s[:live])
				clear(d[live:])
			}
			continue
		}
		// op(A)[r][p] = a[r·lda + p]: each row is contiguous, scattered with stride mr.
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
			for p := 0; p < kc; p++ {
				d := panel[p*nr : p*nr+nr]
				s := b[(p0+p)*ldb+cq:]
				copy(d[:live], s[:live])
				clear(d[live:])
			}
			continue
		}
		// op(B)[p][j] = b[j·ldb + p]: each column is contiguous, scattered with stride nr.
		for j := 0; j < live; j++ {
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
