// Package gemm is autotag's single-precision matrix multiply, C = alpha·op(A)·op(B) + beta·C,
// on row-major slices.
//
// It follows the Goto/BLIS scheme (Goto & van de Geijn, "Anatomy of High-Performance Matrix
// Multiplication", ACM TOMS 2008; Van Zee & van de Geijn, "BLIS", ACM TOMS 2015): op(A) is
// copied into mr-row panels and op(B) into nr-column panels, blocked so that one A micro-panel
// stays in L1 and one B block in L2, and a register-blocked micro-kernel multiplies one panel
// pair into an mr×nr tile of C. The micro-kernels are Go assembly on amd64 (AVX-512, AVX2+FMA,
// chosen at run time with golang.org/x/sys/cpu) with a pure-Go kernel for every other CPU; see
// kernel.go. Work is split across a small pool of goroutines (SetThreads).
//
// Products with a narrow C (few columns, such as ResNet50's 7×7 last stage) run transposed,
// Cᵀ = op(B)ᵀ·op(A)ᵀ, so the kernels' vector lanes run along the wide side (orient.go).
//
// Constant operands (convolution and fully connected weights) can be packed once with
// PackA or PackB and multiplied many times with SgemmPackedA or SgemmPackedB. Steady state
// allocates nothing: packing buffers are pooled and the worker goroutines persist.
// BLAS plugs Sgemm into Gorgonia (gorgonia.Use).
package gemm

import "fmt"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where op(A) is
// m×k (A is m×k with leading dimension lda, or k×m if transA), op(B) is k×n (B is k×n
// with leading dimension ldb, or n×k if transB) and C is m×n with leading dimension ldc.
// When beta is zero C is not read, so it may hold garbage (NaN included).
// It panics if a dimension is negative or a slice is too short (a programmer error).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkDims(m, n, k, lda, ldb, ldc)
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkOperand("A", a, ar, ac, lda)
	checkOperand("B", b, br, bc, ldb)
	checkOperand("C", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	kn := active()
	p := newProblem()
	p.kern, p.k, p.alpha, p.beta = kn, k, alpha, beta
	if transposed(kn, m, n, k) {
		p.m, p.n, p.c, p.ldc, p.ct = n, m, c, ldc, true
		p.a, p.lda, p.transA = b, ldb, !transB
		p.b, p.ldb, p.transB = a, lda, !transA
	} else {
		p.m, p.n, p.c, p.ldc = m, n, c, ldc
		p.a, p.lda, p.transA = a, lda, transA
		p.b, p.ldb, p.transB = b, ldb, transB
	}
	run(p)
}

// checkDims panics on negative sizes; leading dimensions are checked by checkOperand.
func checkDims(m, n, k, lda, ldb, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	if lda < 0 || ldb < 0 || ldc < 0 {
		panic(fmt.Sprintf("gemm: negative leading dimension lda=%d ldb=%d ldc=%d", lda, ldb, ldc))
	}
}

// checkOperand panics unless s holds a rows×cols row-major matrix with leading dimension ld.
func checkOperand(name string, s []float32, rows, cols, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("gemm: ld%s=%d < %d columns", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("gemm: %s has %d elements, needs %d for %dx%d with ld %d", name, len(s), need, rows, cols, ld))
	}
}

// scaleC sets C = beta·C (C = 0 when beta is zero, whatever C held).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(ci)
		case 1:
		default:
			for j := range ci {
				ci[j] *= beta
			}
		}
	}
}
