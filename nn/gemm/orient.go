package gemm

import "sync/atomic"

// Orientation. The kernels vectorise along the columns of C, so a narrow C wastes lanes:
// ResNet50's last stage at batch 1 has n = 7·7 = 49 columns, which the 32-wide AVX-512
// tiles pad to 64 (77 % useful). C = op(A)·op(B) is also Cᵀ = op(B)ᵀ·op(A)ᵀ, so such
// products run transposed: the driver multiplies op(B)ᵀ by op(A)ᵀ and the kernel's
// transposed store (kernel.fnT) writes each tile of Cᵀ straight into C. That pays when
// m pads much better than n, as with m = Cout (a multiple of 64) against n = 49 or 196.

// Orientation overrides for tests.
const (
	orientAuto = iota
	orientNormal
	orientTransposed
)

// forceOrient is orientAuto except in tests, which force each orientation in turn.
var forceOrient atomic.Int32

// transposed reports whether an m×n×k product should run as Cᵀ = op(B)ᵀ·op(A)ᵀ with
// kernel kn: when kn can store transposed and the padded lane count drops by over 8 %
// (the transposed store costs a few per cent), with k deep enough to amortise it.
func transposed(kn *kernel, m, n, k int) bool {
	if kn.fnT == nil {
		return false
	}
	switch forceOrient.Load() {
	case orientNormal:
		return false
	case orientTransposed:
		return true
	}
	if k < 64 {
		return false
	}
	normal := ceilDiv(n, kn.nr) * kn.nr * m
	trans := ceilDiv(m, kn.nr) * kn.nr * n
	return float64(trans)*1.08 < float64(normal)
}
