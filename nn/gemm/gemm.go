// Package gemm is autotag's single-precision matrix multiply: C = alpha·op(A)·op(B) + beta·C
// on row-major slices. This first version is a plain, correct Go loop; the SIMD kernels
// (AVX-512, AVX2+FMA, pure-Go fallback) replace its insides without changing the API.
package gemm

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where op(A) is
// m×k (A is m×k with leading dimension lda, or k×m if transA), op(B) is k×n (B is k×n
// with leading dimension ldb, or n×k if transB) and C is m×n with leading dimension ldc.
// It panics if a slice is too short for its dimensions (a programmer error).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
		} else if beta != 1 {
			for j := range ci {
				ci[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if transB {
				for j := 0; j < n; j++ {
					ci[j] += av * b[j*ldb+p]
				}
			} else {
				bp := b[p*ldb : p*ldb+n]
				for j, bv := range bp {
					ci[j] += av * bv
				}
			}
		}
	}
}
