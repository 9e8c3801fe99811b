package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// BLAS is a complete gonum BLAS (blas.Float32, Float64, Complex64 and Complex128) whose
// Sgemm is this package's. It plugs into Gorgonia so that its stock float32 matmuls
// (MatMul, Mul on matrices, BatchedMatMul) use our kernels:
//
//	gorgonia.Use(gemm.BLAS{})
//
// Everything else is gonum's pure-Go implementation. gorgonia.Use is process-wide.
type BLAS struct {
	gonum.Implementation
}

// Sgemm implements blas.Float32 level 3 Sgemm (row-major, as gonum's) with Sgemm.
// Like gonum it panics on bad arguments.
func (BLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Sgemm(isTrans(tA), isTrans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// isTrans maps a gonum transpose flag to ours; for real matrices ConjTrans is Trans.
func isTrans(t blas.Transpose) bool {
	switch t {
	case blas.NoTrans:
		return false
	case blas.Trans, blas.ConjTrans:
		return true
	}
	panic("gemm: bad blas.Transpose")
}

// blas.Float32 is satisfied with our Sgemm in place.
var _ blas.Float32 = BLAS{}
