package nn

import "github.com/autotag/autotag/nn/gemm"

// implicitIm2col makes the fused path also fill B block by block (fillState.fill, an
// implicit GEMM) instead of unrolling it into the workspace first. Off: at batch 1 it
// was slower on every 3x3 shape than the plane-copy im2col followed by the GEMM's own
// packing (the fill runs per output-row segment, and a transposed product fills the
// same block on each thread). Re-measure with BenchmarkConv with it set.
var implicitIm2col = false

// fillState is the im2col source of an implicit GEMM: the B matrix of a group of
// images b0.. of x (channel planes xCh apart, images xImg apart), rows (ch, i, j),
// columns (image, oy, ox).
type fillState struct {
	g                     convGeom
	x                     []float32
	xCh, xImg, b0, ho, wo int
	oxLo, oxHi            [16]int // validRange per kernel column j (k ≤ 16)
}

// set prepares the fill of the group starting at image b0.
func (f *fillState) set(g convGeom, x []float32, xCh, xImg, b0, ho, wo int) {
	f.g, f.x, f.xCh, f.xImg, f.b0, f.ho, f.wo = g, x, xCh, xImg, b0, ho, wo
	for j := 0; j < g.k; j++ {
		f.oxLo[j], f.oxHi[j] = validRange(g.w, wo, g.s, g.p, j)
	}
}

// fill writes rows [p0, p0+kc) × columns [j0, j0+nc) of the im2col matrix into dst
// (row-major, row stride nc): a gemm.FillB. It only reads shared state, so the GEMM's
// goroutines may call it at once.
func (f *fillState) fill(dst []float32, p0, kc, j0, nc int) {
	g := f.g
	kk2, n := g.k*g.k, f.ho*f.wo
	// the column j0 is output pixel (oy0, ox0) of image img0; later columns follow
	// incrementally (divisions only here)
	img0, pos0 := j0/n, j0%n
	oy0, ox0 := pos0/f.wo, pos0%f.wo
	for r := 0; r < kc; r++ {
		row := p0 + r
		ch, rem := row/kk2, row%kk2
		i, j := rem/g.k, rem%g.k
		oxLo, oxHi := f.oxLo[j], f.oxHi[j]
		d := dst[r*nc : (r+1)*nc]
		plane := f.x[ch*f.xCh:]
		img, oy, ox := img0, oy0, ox0
		for t := 0; t < nc; {
			run := min(f.wo-ox, nc-t) // the rest of this output row
			seg := d[t : t+run]
			t += run
			if iy := oy*g.s - g.p + i; iy < 0 || iy >= g.h {
				clear(seg)
			} else if lo, hi := max(oxLo, ox)-ox, min(oxHi, ox+run)-ox; hi <= lo {
				clear(seg)
			} else {
				src := plane[(f.b0+img)*f.xImg+iy*g.w:][:g.w]
				clear(seg[:lo])
				clear(seg[hi:])
				if g.s == 1 {
					copy(seg[lo:hi], src[ox+lo-g.p+j:])
				} else {
					for q := lo; q < hi; q++ {
						seg[q] = src[(ox+q)*g.s-g.p+j]
					}
				}
			}
			if ox += run; ox == f.wo {
				ox = 0
				if oy++; oy == f.ho {
					oy = 0
					img++
				}
			}
		}
	}
}

// fusedEpilogue finishes blocks of a convolution's output y (rows = output channels,
// ldc apart): bias, residual (same layout as y) and ReLU. A gemm.Epilogue.
type fusedEpilogue struct {
	y, b, res []float32
	ldc       int
	relu      bool
}

// apply finishes rows [i0, i1) × columns [j0, j1). Narrow blocks (a transposed product
// hands over a few columns by many rows) are finished inline: a call per short row
// would cost more than the arithmetic.
func (e *fusedEpilogue) apply(i0, i1, j0, j1 int) {
	if j1-j0 >= 32 {
		for r := i0; r < i1; r++ {
			off := r * e.ldc
			var rr []float32
			if e.res != nil {
				rr = e.res[off+j0 : off+j1]
			}
			epilogueRow(e.y[off+j0:off+j1], rr, e.b[r], e.relu)
		}
		return
	}
	for r := i0; r < i1; r++ {
		off := r * e.ldc
		row, bias := e.y[off+j0:off+j1], e.b[r]
		if e.res != nil {
			rr := e.res[off+j0 : off+j1]
			rr = rr[:len(row)]
			for i, v := range row {
				row[i] = v + bias + rr[i]
			}
		} else {
			for i, v := range row {
				row[i] = v + bias
			}
		}
		if e.relu {
			for i, v := range row {
				row[i] = max(v, 0)
			}
		}
	}
}

// convForwardFused is convForward with packed weights through implicit GEMMs.
func convForwardFused(g convGeom, x, b, res, y []float32, relu bool, ws *workspace, packed *gemm.PackedA) {
	ho, wo := g.outSize()
	n := ho * wo
	xCh, xImg := g.h*g.w, g.c*g.h*g.w
	if g.inCNHW {
		xCh, xImg = g.batch*g.h*g.w, g.h*g.w
	}
	yLd, yImg := n, g.o*n
	if g.outCNHW {
		yLd, yImg = g.batch*n, n
	}
	e := &ws.fe
	e.b, e.ldc, e.relu = b, yLd, relu
	at := func(s []float32, off int) []float32 { // s[off:], or nil for a nil s
		if s == nil {
			return nil
		}
		return s[off:]
	}
	direct := g.k == 1 && g.s == 1 && g.p == 0
	switch {
	case direct && g.inCNHW && g.outCNHW: // the whole batch in one GEMM on x itself
		e.y, e.res = y, res
		gemm.SgemmPackedAFused(packed, g.batch*n, 1, x, g.batch*n, nil, 0, y, yLd, ws.epiFn)
	case direct && !g.inCNHW && !g.outCNHW: // NCHW: one GEMM per image
		for i := 0; i < g.batch; i++ {
			e.y, e.res = y[i*yImg:], at(res, i*yImg)
			gemm.SgemmPackedAFused(packed, n, 1, x[i*xImg:], n, nil, 0, e.y, yLd, ws.epiFn)
		}
	case implicitIm2col: // all images at once in CNHW, one at a time in NCHW
		group := 1
		if g.outCNHW {
			group = g.batch
		}
		for b0 := 0; b0 < g.batch; b0 += group {
			cols := min(group, g.batch-b0) * n
			ws.fs.set(g, x, xCh, xImg, b0, ho, wo)
			e.y, e.res = y[b0*yImg:], at(res, b0*yImg)
			gemm.SgemmPackedAFused(packed, cols, 1, nil, cols, ws.fillFn, 0, e.y, yLd, ws.epiFn)
		}
	default: // im2col groups of images into the workspace, as convForward
		kk := g.c * g.k * g.k
		group := 1
		if g.outCNHW {
			group = max(1, min(g.batch, maxColFloats/(kk*n)))
		}
		for b0 := 0; b0 < g.batch; b0 += group {
			gg := min(group, g.batch-b0)
			cols := gg * n
			col := ws.get(kk * cols)
			ws.unroll = unrollTask{g: g, x: x, col: col, b0: b0, cols: cols, xCh: xCh, xImg: xImg, ho: ho, wo: wo}
			parallel(ws.serial, gg*g.c, kk*cols, &ws.unroll)
			e.y, e.res = y[b0*yImg:], at(res, b0*yImg)
			gemm.SgemmPackedAFused(packed, cols, 1, col, cols, nil, 0, e.y, yLd, ws.epiFn)
		}
	}
}
