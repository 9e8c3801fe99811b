package gemm

import (
	"sync"
	"sync/atomic"
)

// problem is one multiplication on its way through the blocked driver, already in the
// orientation the driver runs it (see orient.go). Values are pooled so that a call
// allocates nothing in steady state.
type problem struct {
	kern           *kernel
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	transA, transB bool
	pa             *panels // non-nil: op(A) is pre-packed; a, lda and transA are unused
	b              []float32
	ldb            int
	pb             *panels // non-nil: op(B) is pre-packed; b, ldb and transB are unused
	c              []float32
	ldc            int
	ct             bool     // C is stored transposed: element (i, j) lives at c[j·ldc+i]
	fill           FillB    // non-nil: the caller's op(B) (before any transposition) comes from fill
	epi            Epilogue // non-nil: called on each final block of the caller's C

	parts   []part         // the thread partition of C
	wg      sync.WaitGroup // counts parts running on workers
	pending atomic.Int32   // the same count, for polling (see spinTime)
}

// part is the block of C one goroutine computes: rows [r0, r1) × columns [c0, c1).
// r0 and c0 are multiples of the kernel's mr and nr.
type part struct{ r0, r1, c0, c1 int }

var problemPool = sync.Pool{New: func() any { return new(problem) }}

// newProblem returns a zeroed pooled problem (its parts slice kept for reuse).
func newProblem() *problem {
	p := problemPool.Get().(*problem)
	p.kern, p.pa, p.pb, p.ct, p.fill, p.epi = nil, nil, nil, false, nil, nil
	p.parts = p.parts[:0]
	return p
}

// scratch holds one goroutine's packing buffers, and t, a block filled by a FillB.
type scratch struct{ a, b, t []float32 }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// grow returns s[:n], reallocating only when s is too short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// blockSizes returns the cache blocking for kernel kn: kc (depth of one packed block),
// mc (rows of A packed at once) and nc (columns of a packed B block).
//
// The loop nest keeps one mr×kc micro-panel of A in L1 (12 KB for the AVX-512 kernel at
// kc=384; L1d is 32-48 KB), one kc×nc block of B in L2 (384·320·4 = 480 KB of a 1-2 MB
// L2) and the mc×kc block of A in L3.
func blockSizes(kn *kernel) (kc, mc, nc int) {
	kc = kn.kc
	mc = (kn.mc / kn.mr) * kn.mr
	nc = (kn.nc / kn.nr) * kn.nr
	return kc, mc, nc
}

// runPart computes the part pt of p's C on the calling goroutine:
//
//	for each block of mc rows            (A block, L3)
//	  for each depth block of kc          (pack A; beta applies on the first only)
//	    for each block of nc columns      (pack B, L2)
//	      for each mr-row micro-panel     (A micro-panel, L1)
//	        for each nr-column micro-panel: micro-kernel
//	        on the last depth block: the epilogue on that mr×nc stripe of C, still in L1
func (p *problem) runPart(pt part) {
	kn := p.kern
	mr, nr := kn.mr, kn.nr
	kcMax, mcMax, ncMax := blockSizes(kn)
	switch {
	case p.pa != nil:
		kcMax = p.pa.kc
	case p.pb != nil:
		kcMax = p.pb.kc
	}
	fn := kn.fn
	if p.ct {
		fn = kn.fnT
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	for ic := pt.r0; ic < pt.r1; ic += mcMax {
		mc := min(mcMax, pt.r1-ic)
		for pc := 0; pc < p.k; pc += kcMax {
			kc := min(kcMax, p.k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			var ap []float32
			switch {
			case p.pa != nil:
				ap = p.pa.block(pc, ic, kc)
			case p.fill != nil && p.ct:
				// op(A) here is the caller's op(B)ᵀ: fill its kc×mc block, pack its columns.
				s.t = grow(s.t, kc*mc)
				p.fill(s.t, pc, kc, ic, mc)
				s.a = grow(s.a, ceilDiv(mc, mr)*mr*kc)
				packA(s.a, true, s.t, mc, 0, mc, 0, kc, mr)
				ap = s.a
			default:
				s.a = grow(s.a, ceilDiv(mc, mr)*mr*kc)
				packA(s.a, p.transA, p.a, p.lda, ic, mc, pc, kc, mr)
				ap = s.a
			}
			for jc := pt.c0; jc < pt.c1; jc += ncMax {
				nc := min(ncMax, pt.c1-jc)
				var bp []float32
				switch {
				case p.pb != nil:
					bp = p.pb.block(pc, jc, kc)
				case p.fill != nil && !p.ct:
					// A full kc×nr block with row stride nr is exactly a packed micro-panel,
					// so fill writes those in place; only a ragged last one goes via s.t.
					s.b = grow(s.b, ceilDiv(nc, nr)*nr*kc)
					full := nc / nr * nr
					for jr := 0; jr < full; jr += nr {
						p.fill(s.b[jr*kc:(jr+nr)*kc], pc, kc, jc+jr, nr)
					}
					if full < nc {
						s.t = grow(s.t, kc*(nc-full))
						p.fill(s.t, pc, kc, jc+full, nc-full)
						packB(s.b[full*kc:], false, s.t, nc-full, 0, kc, 0, nc-full, nr)
					}
					bp = s.b
				default:
					s.b = grow(s.b, ceilDiv(nc, nr)*nr*kc)
					packB(s.b, p.transB, p.b, p.ldb, pc, kc, jc, nc, nr)
					bp = s.b
				}
				for ir := 0; ir < mc; ir += mr {
					rows := min(mr, mc-ir)
					apanel := ap[ir*kc : ir*kc+mr*kc]
					for jr := 0; jr < nc; jr += nr {
						off := (ic+ir)*p.ldc + jc + jr
						if p.ct {
							off = (jc+jr)*p.ldc + ic + ir
						}
						fn(kc, apanel, bp[jr*kc:jr*kc+nr*kc], p.c[off:], p.ldc,
							rows, min(nr, nc-jr), p.alpha, beta)
					}
					if p.epi != nil && pc+kc == p.k { // this row panel of C is final
						if p.ct {
							p.epi(jc, jc+nc, ic+ir, ic+ir+rows)
						} else {
							p.epi(ic+ir, ic+ir+rows, jc, jc+nc)
						}
					}
				}
			}
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
