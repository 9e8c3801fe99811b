package gemm

import "sync"

// PackedA is a left operand op(A) packed once into the micro-panel layout of the kernel
// active when it was made, for repeated multiplication by SgemmPackedA. It suits constant
// operands such as convolution weights W[Cout, Cin·kh·kw] in out = W·cols: packing costs
// one pass over A, and every later product skips it. A PackedA is read-only after PackA
// (its one lazy addition is guarded) and safe for concurrent use by SgemmPackedA calls.
//
// Memory: about m·k floats (m rounded up to the kernel's tile). The first product narrow
// enough to run transposed (see orient.go; e.g. n = 49 against m = 512) adds a second
// copy laid out for that orientation, built from the first.
type PackedA struct {
	m, k int
	a    *panels // op(A) as A-role panels

	tOnce sync.Once
	t     *panels // op(A)ᵀ as B-role panels, for transposed products; built on first use
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
	return &PackedA{m: m, k: k, a: packAPanels(active(), transA, a, lda, m, k)}
}

// Rows returns m, the number of rows of op(A).
func (pa *PackedA) Rows() int { return pa.m }

// Cols returns k, the number of columns of op(A).
func (pa *PackedA) Cols() int { return pa.k }

// transposedPanels returns op(A)ᵀ packed as B-role panels (op(A)'s rows become nr-wide
// column panels), building it from the A-role panels on first use.
func (pa *PackedA) transposedPanels() *panels {
	pa.tOnce.Do(func() { pa.t = pa.a.repack(pa.a.kern.nr) })
	return pa.t
}

// SgemmPackedA computes C = alpha·op(A)·op(B) + beta·C like Sgemm, with op(A) (m×k) taken
// from pa: op(B) is k×n (B is k×n with leading dimension ldb, or n×k if transB) and C is m×n
// with leading dimension ldc. When beta is zero C is not read. It panics on a short slice.
func SgemmPackedA(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmPackedA(Threads(), pa, transB, n, alpha, b, ldb, beta, c, ldc)
}

// SgemmPackedASerial is SgemmPackedA computed on the calling goroutine alone, for
// callers that spread several independent products over the threads themselves (with
// ParallelFor), such as the 16 products of a Winograd convolution: one split of the
// work instead of one per product.
func SgemmPackedASerial(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmPackedA(1, pa, transB, n, alpha, b, ldb, beta, c, ldc)
}

// sgemmPackedA is SgemmPackedA on at most t goroutines.
func sgemmPackedA(t int, pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
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
	kn := pa.a.kern
	p := newProblem()
	p.kern, p.k, p.alpha, p.beta = kn, k, alpha, beta
	if transposed(kn, m, n, k) {
		p.m, p.n, p.c, p.ldc, p.ct = n, m, c, ldc, true
		p.a, p.lda, p.transA = b, ldb, !transB
		p.pb = pa.transposedPanels()
	} else {
		p.m, p.n, p.c, p.ldc = m, n, c, ldc
		p.pa = pa.a
		p.b, p.ldb, p.transB = b, ldb, transB
	}
	runOn(p, t)
}

// PackedB is a right operand op(B) packed once, the mirror of PackedA, for products
// whose constant operand is on the right, such as a fully connected layer
// out[batch, classes] = x[batch, features] · Wᵀ with W[classes, features] (transB).
// It is read-only after PackB and safe for concurrent use by SgemmPackedB calls.
type PackedB struct {
	k, n int
	b    *panels // op(B) as B-role panels

	tOnce sync.Once
	t     *panels // op(B)ᵀ as A-role panels, for transposed products; built on first use
}

// PackB packs op(B), a k×n matrix (B is k×n with leading dimension ldb, or n×k if
// transB), for SgemmPackedB. It copies: later changes to b do not affect the result.
// It panics on negative sizes or a short slice (a programmer error).
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	checkDims(0, n, k, 0, ldb, 0)
	if transB {
		checkOperand("B", b, n, k, ldb)
	} else {
		checkOperand("B", b, k, n, ldb)
	}
	return &PackedB{k: k, n: n, b: packBPanels(active(), transB, b, ldb, k, n)}
}

// Rows returns k, the number of rows of op(B).
func (pb *PackedB) Rows() int { return pb.k }

// Cols returns n, the number of columns of op(B).
func (pb *PackedB) Cols() int { return pb.n }

// transposedPanels returns op(B)ᵀ packed as A-role panels, built on first use.
func (pb *PackedB) transposedPanels() *panels {
	pb.tOnce.Do(func() { pb.t = pb.b.repack(pb.b.kern.mr) })
	return pb.t
}

// SgemmPackedB computes C = alpha·op(A)·op(B) + beta·C like Sgemm, with op(B) (k×n) taken
// from pb: op(A) is m×k (A is m×k with leading dimension lda, or k×m if transA) and C is
// m×n with leading dimension ldc. When beta is zero C is not read. It panics on a short
// slice.
func SgemmPackedB(transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	n, k := pb.n, pb.k
	checkDims(m, n, k, lda, 0, ldc)
	if transA {
		checkOperand("A", a, k, m, lda)
	} else {
		checkOperand("A", a, m, k, lda)
	}
	checkOperand("C", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	kn := pb.b.kern
	p := newProblem()
	p.kern, p.k, p.alpha, p.beta = kn, k, alpha, beta
	if transposed(kn, m, n, k) {
		p.m, p.n, p.c, p.ldc, p.ct = n, m, c, ldc, true
		p.pa = pb.transposedPanels()
		p.b, p.ldb, p.transB = a, lda, !transA
	} else {
		p.m, p.n, p.c, p.ldc = m, n, c, ldc
		p.a, p.lda, p.transA = a, lda, transA
		p.pb = pb.b
	}
	run(p)
}
