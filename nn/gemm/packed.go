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

// at returns op(A)[i][p] from the packed panels.
func (pa *PackedA) at(i, p int) float32 {
	pp := pa.a
	mr := pp.kern.mr
	p0 := p / pp.kc * pp.kc
	kc := min(pp.kc, pa.k-p0)
	return pp.data[p0*pp.pad+(i/mr)*mr*kc+(p-p0)*mr+i%mr]
}

// transposedPanels returns op(A)ᵀ packed as B-role panels (op(A)'s rows become nr-wide
// column panels), building it from the A-role panels on first use.
func (pa *PackedA) transposedPanels() *panels {
	pa.tOnce.Do(func() {
		kn := pa.a.kern
		pp := &panels{kern: kn, kc: pa.a.kc, pad: ceilDiv(pa.m, kn.nr) * kn.nr}
		pp.data = make([]float32, pp.pad*pa.k)
		nr := kn.nr
		for p0 := 0; p0 < pa.k; p0 += pp.kc {
			kc := min(pp.kc, pa.k-p0)
			blk := pp.data[p0*pp.pad:]
			for i := 0; i < pa.m; i++ {
				panel := blk[(i/nr)*nr*kc:]
				for p := 0; p < kc; p++ {
					panel[p*nr+i%nr] = pa.at(i, p0+p)
				}
			}
		}
		pa.t = pp
	})
	return pa.t
}

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
	run(p)
}
