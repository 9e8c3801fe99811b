package nn

import (
	"runtime"

	"github.com/autotag/autotag/nn/gemm"
)

// Winograd F(2x2, 3x3) for the stride-1, pad-1 3x3 convolutions (Lavin & Gray 2015,
// "Fast Algorithms for Convolutional Neural Networks", arXiv:1509.09308). Each 2x2
// output tile is Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A from the 4x4 input tile d around it, so
// the 3x3 convolution becomes 16 GEMMs M_ξ[O,T] = U_ξ[O,C]·V_ξ[C,T] over the T tiles of
// the batch: 16 multiplies per 4 outputs instead of 36 (2.25x fewer flops), and the
// input is copied 4x (V) instead of 9x (im2col). The bias / residual / ReLU epilogue is
// fused into the output transform. F(2x2,3x3) keeps float32 error at the level of the
// direct method (larger tiles, F(4x4,3x3), lose about two more digits).
//
//	Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//	G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 −1 −1]
//
// Bind transforms the weights unless Engine.DisableWinograd is set (16/9 of the 3x3
// weights of ResNet50's layer2-4); runners whose Engine allows it use them for
// convolutions with at least winogradMinChannels channels and winogradMinTiles tiles
// in the batch. Results match the im2col path to float32 rounding.

// winogradMinTiles is the fewest tiles (GEMM columns) for which a Runner picks Winograd.
// Since the 16 products are shared out whole between the threads (winoMulTask), not
// each split, Winograd wins at batch 1 too, down to layer4's 16 tiles (and batch 1 was
// slower with layer4 left out); split per product, 16 narrow GEMMs had lost to one
// wide im2col GEMM at batch 1. Re-measure with autotag bench --winograd both --batch 1
// --threads 1 after changing it.
const winogradMinTiles = 16

// winogradMinChannels is the fewest channels for which Winograd pays: the transforms
// cost ∝ (C + O) per pixel while the flops saved ∝ C·O, so ResNet50's 64-channel
// layer1 would spend 43% of all transform work to save 18% of the flops.
const winogradMinChannels = 128

// winoMaxFloats caps the transform workspace (V and M) of one group of images.
const winoMaxFloats = 1 << 22

// winogradWeights is U = G g Gᵀ of one 3x3 convolution as 16 packed O×C matrices,
// made once and shared read-only.
type winogradWeights struct {
	o, c   int
	packed [16]*gemm.PackedA
}

// newWinogradWeights transforms folded 3x3 weights w [O, C, 3, 3].
func newWinogradWeights(w []float32, o, c int) *winogradWeights {
	u := make([]float32, 16*o*c) // [ξ][o][c]
	for oc := 0; oc < o*c; oc++ {
		g := w[oc*9 : oc*9+9]
		var gg [4][3]float32 // G·g
		for j := 0; j < 3; j++ {
			g0, g1, g2 := g[j], g[3+j], g[6+j]
			gg[0][j] = g0
			gg[1][j] = 0.5 * (g0 + g1 + g2)
			gg[2][j] = 0.5 * (g0 - g1 + g2)
			gg[3][j] = g2
		}
		for i := 0; i < 4; i++ { // (G·g)·Gᵀ
			r0, r1, r2 := gg[i][0], gg[i][1], gg[i][2]
			row := [4]float32{r0, 0.5 * (r0 + r1 + r2), 0.5 * (r0 - r1 + r2), r2}
			for j := 0; j < 4; j++ {
				u[(i*4+j)*o*c+oc] = row[j]
			}
		}
	}
	ww := &winogradWeights{o: o, c: c}
	for xi := 0; xi < 16; xi++ {
		ww.packed[xi] = gemm.PackA(false, o, c, u[xi*o*c:(xi+1)*o*c], c)
	}
	return ww
}

// winogradForward is convForward for a CNHW → CNHW 3x3 / stride 1 / pad 1 convolution.
func winogradForward(g convGeom, x, b, res, y []float32, relu bool, ws *workspace, wino *winogradWeights) {
	if ws == nil {
		ws = newWorkspace()
	}
	h, w, c, o := g.h, g.w, g.c, g.o
	th, tw := (h+1)/2, (w+1)/2
	tpi := th * tw // tiles per image
	group := max(1, min(g.batch, winoMaxFloats/(16*(c+o)*tpi)))
	for b0 := 0; b0 < g.batch; b0 += group {
		gg := min(group, g.batch-b0)
		t := gg * tpi
		buf := ws.get(16 * (c + o) * t)
		v, m := buf[:16*c*t], buf[16*c*t:]
		ws.winoIn = winoInputTask{g: g, x: x, v: v, b0: b0, gg: gg, t: t, th: th, tw: tw}
		parallel(ws.serial, c, 16*c*t, &ws.winoIn)
		ws.winoMul = winoMulTask{w: wino, v: v, m: m, c: c, o: o, t: t}
		if !ws.serial && gemm.Threads() > 1 && runtime.GOMAXPROCS(0) > 1 {
			gemm.ParallelFor(16, &ws.winoMul) // the 16 products split between the threads
		} else {
			ws.winoMul.RunRange(0, 16)
		}
		ws.winoOut = winoOutputTask{g: g, m: m, b: b, res: res, y: y, b0: b0, gg: gg, t: t, th: th, tw: tw, relu: relu}
		parallel(ws.serial, o, 16*o*t, &ws.winoOut)
	}
}

// winoMulTask computes the products M[ξ] = U[ξ]·V[ξ] for ξ in [lo, hi), each on the
// calling goroutine: sharing the 16 products out between threads needs one hand-off
// per convolution where splitting each product needs 16, and keeps each product whole
// (at batch 1 they are only 16-196 columns wide).
type winoMulTask struct {
	w       *winogradWeights
	v, m    []float32
	c, o, t int
}

// RunRange executes the loop body over [lo, hi) (a gemm.RangeTask).
func (k *winoMulTask) RunRange(lo, hi int) {
	for xi := lo; xi < hi; xi++ {
		gemm.SgemmPackedASerial(k.w.packed[xi], false, k.t, 1, k.v[xi*k.c*k.t:], k.t, 0, k.m[xi*k.o*k.t:], k.t)
	}
}

// winoInputTask transforms the input planes of channels [lo, hi) of a group of images.
type winoInputTask struct {
	g                 convGeom
	x, v              []float32
	b0, gg, t, th, tw int
}

// RunRange executes the loop body over [lo, hi) (a gemm.RangeTask).
func (k *winoInputTask) RunRange(lo, hi int) {
	g, plane, tpi := k.g, k.g.h*k.g.w, k.th*k.tw
	for ch := lo; ch < hi; ch++ {
		for i := 0; i < k.gg; i++ {
			xp := k.x[ch*g.batch*plane+(k.b0+i)*plane:][:plane]
			winogradInput(xp, g.h, g.w, k.th, k.tw, k.v[ch*k.t+i*tpi:], g.c*k.t)
		}
	}
}

// winoOutputTask transforms the GEMM results of output channels [lo, hi) back into
// output planes, with the epilogue.
type winoOutputTask struct {
	g                 convGeom
	m, b, res, y      []float32
	b0, gg, t, th, tw int
	relu              bool
}

// RunRange executes the loop body over [lo, hi) (a gemm.RangeTask).
func (k *winoOutputTask) RunRange(lo, hi int) {
	g, plane, tpi := k.g, k.g.h*k.g.w, k.th*k.tw
	for oc := lo; oc < hi; oc++ {
		for i := 0; i < k.gg; i++ {
			off := oc*g.batch*plane + (k.b0+i)*plane
			var rp []float32
			if k.res != nil {
				rp = k.res[off : off+plane]
			}
			winogradOutput(k.m[oc*k.t+i*tpi:], g.o*k.t, g.h, g.w, k.th, k.tw, k.b[oc], rp, k.relu, k.y[off:off+plane])
		}
	}
}

// winoMaxRow is the widest plane winogradInput transforms by rows (its stack buffers).
const winoMaxRow = 512

// winogradInput writes V = Bᵀ d B of every tile of one h×w plane: tile k's value ξ
// goes to v[ξ·stride + k]. It works a row of tiles at a time: the column transform
// (Bᵀ·d) once per input column of the row's four input rows, shared by the two tiles
// that overlap there, then the row transform (·B) per tile, with the same operations
// in the same order as winogradInputTiles (so the same results) and no border cases
// inside the loops. Planes wider than winoMaxRow go to winogradInputTiles.
func winogradInput(xp []float32, h, w, th, tw int, v []float32, stride int) {
	if w > winoMaxRow {
		winogradInputTiles(xp, h, w, th, tw, v, stride)
		return
	}
	var zero [winoMaxRow]float32
	// t[i][x+1] is row i of Bᵀ·d for input column x in [-1, 2·tw]; the padding
	// columns (x = -1 and x ≥ w) are never written and stay zero
	var t [4][winoMaxRow + 3]float32
	v = v[:15*stride+th*tw]
	for ty := 0; ty < th; ty++ {
		var r [4][]float32
		for i := range r {
			if iy := 2*ty - 1 + i; iy >= 0 && iy < h {
				r[i] = xp[iy*w : iy*w+w]
			} else {
				r[i] = zero[:w]
			}
		}
		r0, r1, r2, r3 := r[0], r[1][:w], r[2][:w], r[3][:w]
		t0, t1, t2, t3 := t[0][1:w+1], t[1][1:w+1], t[2][1:w+1], t[3][1:w+1]
		for x := range r0 {
			d0, d1, d2, d3 := r0[x], r1[x], r2[x], r3[x]
			t0[x], t1[x], t2[x], t3[x] = d0-d2, d1+d2, d2-d1, d1-d3
		}
		for tx := 0; tx < tw; tx++ {
			k := ty*tw + tx
			for i := 0; i < 4; i++ {
				a := t[i][2*tx : 2*tx+4]
				a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
				o := i*4*stride + k
				v[o] = a0 - a2
				v[o+stride] = a1 + a2
				v[o+2*stride] = a2 - a1
				v[o+3*stride] = a1 - a3
			}
		}
	}
}

// winogradInputTiles is winogradInput a tile at a time, for any width: interior tiles
// take a branch-free path on scalars; border tiles gather their zero-padded 4x4 first.
func winogradInputTiles(xp []float32, h, w, th, tw int, v []float32, stride int) {
	for ty := 0; ty < th; ty++ {
		y0 := 2*ty - 1
		for tx := 0; tx < tw; tx++ {
			x0 := 2*tx - 1
			var d [16]float32
			if y0 >= 0 && x0 >= 0 && y0+4 <= h && x0+4 <= w {
				r0 := xp[y0*w+x0 : y0*w+x0+4]
				r1 := xp[(y0+1)*w+x0 : (y0+1)*w+x0+4]
				r2 := xp[(y0+2)*w+x0 : (y0+2)*w+x0+4]
				r3 := xp[(y0+3)*w+x0 : (y0+3)*w+x0+4]
				d = [16]float32{r0[0], r0[1], r0[2], r0[3], r1[0], r1[1], r1[2], r1[3],
					r2[0], r2[1], r2[2], r2[3], r3[0], r3[1], r3[2], r3[3]}
			} else {
				for r := 0; r < 4; r++ {
					if iy := y0 + r; iy >= 0 && iy < h {
						for q := 0; q < 4; q++ {
							if ix := x0 + q; ix >= 0 && ix < w {
								d[r*4+q] = xp[iy*w+ix]
							}
						}
					}
				}
			}
			k := ty*tw + tx
			for q := 0; q < 4; q++ { // columns of Bᵀ·d, in place
				a0, a1, a2, a3 := d[q], d[4+q], d[8+q], d[12+q]
				d[q], d[4+q], d[8+q], d[12+q] = a0-a2, a1+a2, a2-a1, a1-a3
			}
			for r := 0; r < 4; r++ { // rows of (Bᵀ·d)·B
				a0, a1, a2, a3 := d[r*4], d[r*4+1], d[r*4+2], d[r*4+3]
				i := r * 4 * stride
				v[i+k] = a0 - a2
				v[i+stride+k] = a1 + a2
				v[i+2*stride+k] = a2 - a1
				v[i+3*stride+k] = a1 - a3
			}
		}
	}
}

// winogradOutput turns the 16 GEMM results of every tile of one output plane (value ξ
// of tile k at m[ξ·stride + k]) into Y = Aᵀ M A, adds bias (and the residual), applies
// ReLU if asked and writes the h×w plane yp (odd sizes drop the tiles' overhang).
func winogradOutput(m []float32, stride, h, w, th, tw int, bias float32, res []float32, relu bool, yp []float32) {
	for ty := 0; ty < th; ty++ {
		for tx := 0; tx < tw; tx++ {
			k := ty*tw + tx
			var s [8]float32 // Aᵀ·M, two rows of four
			for j := 0; j < 4; j++ {
				m0, m1 := m[j*stride+k], m[(4+j)*stride+k]
				m2, m3 := m[(8+j)*stride+k], m[(12+j)*stride+k]
				s[j], s[4+j] = m0+m1+m2, m1-m2-m3
			}
			out := [4]float32{ // (Aᵀ·M)·A + bias
				s[0] + s[1] + s[2] + bias, s[1] - s[2] - s[3] + bias,
				s[4] + s[5] + s[6] + bias, s[5] - s[6] - s[7] + bias,
			}
			oy, ox := 2*ty, 2*tx
			if oy+1 < h && ox+1 < w { // a whole 2x2 block: no bounds per element
				i0, i1 := oy*w+ox, (oy+1)*w+ox
				v0, v1, v2, v3 := out[0], out[1], out[2], out[3]
				if res != nil {
					v0, v1, v2, v3 = v0+res[i0], v1+res[i0+1], v2+res[i1], v3+res[i1+1]
				}
				if relu {
					v0, v1, v2, v3 = max(v0, 0), max(v1, 0), max(v2, 0), max(v3, 0)
				}
				yp[i0], yp[i0+1], yp[i1], yp[i1+1] = v0, v1, v2, v3
				continue
			}
			for r := 0; r < 2 && oy+r < h; r++ {
				for q := 0; q < 2 && ox+q < w; q++ {
					i := (oy+r)*w + ox + q
					v := out[r*2+q]
					if res != nil {
						v += res[i]
					}
					if relu {
						v = max(v, 0)
					}
					yp[i] = v
				}
			}
		}
	}
}
