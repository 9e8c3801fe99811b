package gemm

// PackedA is a left operand op(A) packed once into the micro-panel layout of the kernel
// active when it was made, for repeated multiplication by SgemmPackedA. It suits constant
// operands such as convolution weights W[Cout, Cin·kh·kw] in out = W·cols: packing costs
// one pass over A, and every later product skips it. A PackedA is read-only after PackA and
// safe for concurrent use by any number of SgemmPackedA calls.
//
// Layout: for each depth block [p0, p0+kc) of the kernel's kc, the rows are padded to a
// multiple of mr and stored as mr-row micro-panels (see packA) at data[p0·mpad:].
type PackedA struct {
	m, k int
	kern *kernel
	kc   int
	mpad int // m rounded up to a multiple of kern.mr
	data []float32
}

// PackA packs op(A), an m×k matrix (A is m×k with leading dimension lda, or k×m if
// transA), for SgemmPackedA. It copies: later changes to a do not affect the result.
// It panics on negative sizes or a short slice (a programmer error).
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	checkDims(m, 0, k, lda, 0, 0)
	if transA {
		checkOperand("A", a, k, m, lda)
	} else {
		checkOperand("A", a, m, k, lda)
	}
	kn := active()
	kc, _, _ := blockSizes(kn)
	pa := &PackedA{m: m, k: k, kern: kn, kc: kc, mpad: ceilDiv(m, kn.mr) * kn.mr}
	pa.data = make([]float32, pa.mpad*k)
	for p0 := 0; p0 < k; p0 += kc {
		packA(pa.data[p0*pa.mpad:], transA, a, lda, 0, m, p0, min(kc, k-p0), kn.mr)
	}
	return pa
}

// Rows returns m, the number of rows of op(A).
func (pa *PackedA) Rows() int { return pa.m }

// Cols returns k, the number of columns of op(A).
func (pa *PackedA) Cols() int { return pa.k }

// SgemmPackedA computes C = alpha·op(A)·op(B) + beta·C like Sgemm, with op(A) (m×k) taken
// from pa: op(B) is k×n (B is k×n with leading dimension ldb, or n×k if transB) and C is m×n
// with leading dimension ldc. When beta is zero C is not read. It panics on a short slice.
func SgemmPackedA(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	m, k := pa.m, pa.k
	checkDims(m, n, k, 0, ldb, ldc)
	if transB {
		checkOperand("B", b, n, k, ldb)
	} else {
		checkOperand("B", b, k, n, ldb)
	}
	checkOperand("C", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := problemPool.Get().(*problem)
	p.kern, p.m, p.n, p.k = pa.kern, m, n, k
	p.alpha, p.beta = alpha, beta
	p.pa, p.transA = pa, false
	p.b, p.ldb, p.transB = b, ldb, transB
	p.c, p.ldc = c, ldc
	run(p)
}
