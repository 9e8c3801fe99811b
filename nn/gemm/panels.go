package gemm

// panels is a whole operand packed once for one kernel: either op(A) as mr-row
// micro-panels ("A-role", w = mr) or op(B) as nr-column micro-panels ("B-role", w = nr),
// for every depth block. For the depth block starting at p0 (of length kc = min(kernel
// kc, k-p0)) the micro-panel holding row/column x (a multiple of w) starts at
// data[p0·pad + x·kc], where pad is the row/column count n rounded up to w. runPart reads
// it exactly like its own packing buffers.
type panels struct {
	kern *kernel
	kc   int // depth block
	w    int // micro-panel width: kern.mr or kern.nr
	n, k int // rows (A-role) or columns (B-role), and depth
	pad  int // n rounded up to w
	data []float32
}

// newPanels allocates zeroed panels of width w for an n×k operand.
func newPanels(kn *kernel, w, n, k int) *panels {
	kc, _, _ := blockSizes(kn)
	pp := &panels{kern: kn, kc: kc, w: w, n: n, k: k, pad: ceilDiv(n, w) * w}
	pp.data = make([]float32, pp.pad*k)
	return pp
}

// block returns the packed data of depth block p0 (length kc) from row/column x on.
func (pp *panels) block(p0, x, kc int) []float32 { return pp.data[p0*pp.pad+x*kc:] }

// repack returns the same operand in panels of width w: A-role panels become B-role
// panels of the transpose and vice versa, for products run transposed (orient.go). When
// one width divides the other (8 and 32 for AVX-512, 4 and 4 for Go) it moves whole runs.
func (pp *panels) repack(w int) *panels {
	out := newPanels(pp.kern, w, pp.n, pp.k)
	run := min(w, pp.w)
	if max(w, pp.w)%run != 0 {
		run = 1
	}
	for p0 := 0; p0 < pp.k; p0 += pp.kc {
		kc := min(pp.kc, pp.k-p0)
		src, dst := pp.data[p0*pp.pad:], out.data[p0*out.pad:]
		for x := 0; x < pp.n; x += run {
			// rows/columns x..x+run-1 share a panel in both layouts
			s := src[(x/pp.w)*pp.w*kc+x%pp.w:]
			d := dst[(x/w)*w*kc+x%w:]
			for p := 0; p < kc; p++ {
				copy(d[p*w:p*w+run], s[p*pp.w:p*pp.w+run])
			}
		}
	}
	return out
}

// packAPanels packs op(A) (rows×k) as A-role panels for kn.
func packAPanels(kn *kernel, transA bool, a []float32, lda, rows, k int) *panels {
	pp := newPanels(kn, kn.mr, rows, k)
	for p0 := 0; p0 < k; p0 += pp.kc {
		packA(pp.data[p0*pp.pad:], transA, a, lda, 0, rows, p0, min(pp.kc, k-p0), kn.mr)
	}
	return pp
}

// packBPanels packs op(B) (k×cols) as B-role panels for kn.
func packBPanels(kn *kernel, transB bool, b []float32, ldb, k, cols int) *panels {
	pp := newPanels(kn, kn.nr, cols, k)
	for p0 := 0; p0 < k; p0 += pp.kc {
		packB(pp.data[p0*pp.pad:], transB, b, ldb, p0, min(pp.kc, k-p0), 0, cols, kn.nr)
	}
	return pp
}
