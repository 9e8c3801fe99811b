package gemm

// panels is a whole operand packed once for one kernel: either op(A) as mr-row
// micro-panels or op(B) as nr-column micro-panels, for every depth block. For the depth
// block starting at p0 (of length kc = min(kernel kc, k-p0)) the micro-panel holding
// row/column x (a multiple of mr/nr) starts at data[p0·pad + x·kc], where pad is the row
// (column) count rounded up to mr (nr). runPart reads it exactly like its own buffers.
type panels struct {
	kern *kernel
	kc   int
	pad  int
	data []float32
}

// block returns the packed data of depth block p0 (length kc) from row/column x on.
func (pp *panels) block(p0, x, kc int) []float32 { return pp.data[p0*pp.pad+x*kc:] }

// packAPanels packs op(A) (rows×k) as A-role panels for kn.
func packAPanels(kn *kernel, transA bool, a []float32, lda, rows, k int) *panels {
	kc, _, _ := blockSizes(kn)
	pp := &panels{kern: kn, kc: kc, pad: ceilDiv(rows, kn.mr) * kn.mr}
	pp.data = make([]float32, pp.pad*k)
	for p0 := 0; p0 < k; p0 += kc {
		packA(pp.data[p0*pp.pad:], transA, a, lda, 0, rows, p0, min(kc, k-p0), kn.mr)
	}
	return pp
}

// packBPanels packs op(B) (k×cols) as B-role panels for kn.
func packBPanels(kn *kernel, transB bool, b []float32, ldb, k, cols int) *panels {
	kc, _, _ := blockSizes(kn)
	pp := &panels{kern: kn, kc: kc, pad: ceilDiv(cols, kn.nr) * kn.nr}
	pp.data = make([]float32, pp.pad*k)
	for p0 := 0; p0 < k; p0 += kc {
		packB(pp.data[p0*pp.pad:], transB, b, ldb, p0, min(kc, k-p0), 0, cols, kn.nr)
	}
	return pp
}
