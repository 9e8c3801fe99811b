package gemm

// FillB produces op(B) on demand for SgemmPackedAFused: it writes the block
// op(B)[p0:p0+kc][j0:j0+nc] into dst, row-major with row stride nc (dst has kc·nc
// elements). It lets a convolution run as an implicit GEMM: the im2col of just the block
// the kernels need next, written into a cache-resident buffer, instead of the whole
// unrolled matrix. It is called from several goroutines at once, for different (or, when
// the product runs transposed on several threads, the same) blocks, so it must only read
// shared state.
type FillB func(dst []float32, p0, kc, j0, nc int)

// Epilogue is called by SgemmPackedAFused on each block of C as soon as it is final:
// rows [i0, i1) × columns [j0, j1), at most a few rows or columns wide, while it is still in
// cache — the place for bias, residual add and ReLU. Blocks are disjoint and together
// cover C exactly once; calls come from several goroutines at once.
type Epilogue func(i0, i1, j0, j1 int)

// SgemmPackedAFused computes C = alpha·op(A)·B + beta·C like SgemmPackedA (B untransposed,
// k×n), with two optional fusions: when fill is non-nil, B comes from fill block by block
// and b/ldb are ignored; when epi is non-nil, it runs on every final block of C (see
// Epilogue). Pass method values or closures made once, not per call, to keep the call
// allocation-free. It panics on a short slice.
func SgemmPackedAFused(pa *PackedA, n int, alpha float32, b []float32, ldb int, fill FillB, beta float32, c []float32, ldc int, epi Epilogue) {
	m, k := pa.m, pa.k
	checkDims(m, n, k, 0, ldb, ldc)
	if fill == nil {
		checkOperand("B", b, k, n, ldb)
	}
	checkOperand("C", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		if epi != nil {
			epi(0, m, 0, n)
		}
		return
	}
	kn := pa.a.kern
	p := newProblem()
	p.kern, p.k, p.alpha, p.beta = kn, k, alpha, beta
	p.fill, p.epi = fill, epi
	if transposed(kn, m, n, k) {
		p.m, p.n, p.c, p.ldc, p.ct = n, m, c, ldc, true
		p.a, p.lda, p.transA = b, ldb, true
		p.pb = pa.transposedPanels()
	} else {
		p.m, p.n, p.c, p.ldc = m, n, c, ldc
		p.pa = pa.a
		p.b, p.ldb, p.transB = b, ldb, false
	}
	run(p)
}
