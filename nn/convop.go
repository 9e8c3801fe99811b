package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"runtime"

	"github.com/autotag/autotag/nn/gemm"
	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convOp is the fused convolution operator: y = ReLU(conv(x, W) + b [+ r]) on float32
// activations, with W in OIHW. Its inputs are x, W, b and, when residual, r (the
// shortcut of a bottleneck, He et al. 2015 eq. 1); relu may be off.
//
// Activations are NCHW, or, inside a Runner, CNHW: channel-major across the batch,
// shape (C,B,H,W), which is NCHW itself at batch 1. In CNHW every channel of the whole
// batch is one contiguous row, so a 1x1 convolution of the batch is a single GEMM
// Y[O, B·HW] = W[O, C]·X[C, B·HW] straight on the activations, and the im2col of
// several images feeds one wider GEMM: layer3/4's 14x14 and 7x7 maps are too narrow to
// keep the GEMM busy one image at a time. Strided 1x1 convolutions subsample first;
// larger kernels go through im2col into the graph's shared workspace. The bias /
// residual / ReLU epilogue is one pass over the output, on two goroutines.
type convOp struct {
	base
	k, stride, pad  int
	relu, residual  bool
	inCNHW, outCNHW bool
	ws              *workspace
	out             outBuf
	// packed, when set, is the weight input already packed for the GEMM (inference
	// runners, whose weights never change); nil means pack the weight on every call.
	packed *gemm.PackedA
	// wino, when set, runs this 3x3/1/1 CNHW convolution by Winograd (winograd.go).
	wino *winogradWeights
}

// Conv2d applies the fused convolution to graph nodes x [B,C,H,W] (NCHW), w [O,C,k,k],
// b [O] and, if res is not nil, adds res [B,O,Ho,Wo] before the optional ReLU. It is
// differentiable with respect to every input (gorgonia.Grad works through it).
func Conv2d(x, w, b, res *gorgonia.Node, stride, pad int, relu bool) (*gorgonia.Node, error) {
	return conv2d(x, w, b, res, convOp{stride: stride, pad: pad, relu: relu})
}

// conv2d applies a convOp configured like proto (stride, pad, relu, layouts, ws, packed).
func conv2d(x, w, b, res *gorgonia.Node, proto convOp) (*gorgonia.Node, error) {
	ws2 := w.Shape()
	if len(ws2) != 4 || ws2[2] != ws2[3] {
		return nil, fmt.Errorf("nn: conv weight %s has shape %v, want [out,in,k,k]", w.Name(), ws2)
	}
	op := &convOp{base: newBase(), k: ws2[2], stride: proto.stride, pad: proto.pad, relu: proto.relu,
		residual: res != nil, inCNHW: proto.inCNHW, outCNHW: proto.outCNHW, ws: proto.ws, packed: proto.packed}
	if proto.wino != nil && op.k == 3 && op.stride == 1 && op.pad == 1 && op.inCNHW && op.outCNHW {
		op.wino = proto.wino
	}
	in := []*gorgonia.Node{x, w, b}
	if res != nil {
		in = append(in, res)
	}
	n, err := gorgonia.ApplyOp(op, in...)
	if err != nil {
		return nil, fmt.Errorf("nn: conv %s: %w", w.Name(), err)
	}
	return n, nil
}

// Arity is the number of inputs the operator takes.
func (op *convOp) Arity() int {
	if op.residual {
		return 4
	}
	return 3
}

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *convOp) Type() hm.Type {
	if op.residual {
		return fnType(4, 4, 1, 4, 4)
	}
	return fnType(4, 4, 1, 4)
}

// geom reads the call's geometry from the input and weight shapes.
func (op *convOp) geom(x, w tensor.Shape) convGeom {
	g := convGeom{batch: x[0], c: x[1], h: x[2], w: x[3], o: w[0], k: op.k, s: op.stride, p: op.pad,
		inCNHW: op.inCNHW, outCNHW: op.outCNHW}
	if op.inCNHW {
		g.batch, g.c = x[1], x[0]
	}
	return g
}

// InferShape checks the input shapes and returns the output's.
func (op *convOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%v: want %d inputs, got %d", op, op.Arity(), len(inputs))
	}
	x, ok1 := inputs[0].(tensor.Shape)
	w, ok2 := inputs[1].(tensor.Shape)
	b, ok3 := inputs[2].(tensor.Shape)
	if !ok1 || !ok2 || !ok3 || len(x) != 4 || len(w) != 4 || len(b) != 1 {
		return nil, fmt.Errorf("%v: bad input shapes %v", op, inputs)
	}
	g := op.geom(x, w)
	if g.c != w[1] || w[0] != b[0] {
		return nil, fmt.Errorf("%v: input %v, weight %v and bias %v disagree", op, x, w, b)
	}
	ho, wo := g.outSize()
	if ho < 1 || wo < 1 {
		return nil, fmt.Errorf("%v: input %v too small", op, x)
	}
	out := g.outShape()
	if op.residual {
		if r, ok := inputs[3].(tensor.Shape); !ok || !r.Eq(out) {
			return nil, fmt.Errorf("%v: residual shape %v, want %v", op, inputs[3], out)
		}
	}
	return out, nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *convOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	if op.ws != nil && op.ws.serial {
		// A pool runner holds its thread for a whole forward pass (tens of ms); a
		// turn for the scheduler at every convolution (a few dozen per forward pass)
		// lets a server's network goroutines run at once without a spare scheduler
		// slot. With nothing else runnable it returns at once.
		runtime.Gosched()
	}
	ts, err := denses(op, op.Arity(), inputs)
	if err != nil {
		return nil, err
	}
	x, w, b := ts[0], ts[1], ts[2]
	g := op.geom(x.Shape(), w.Shape())
	ho, wo := g.outSize()
	var out *tensor.Dense
	if op.outCNHW {
		out = op.out.get(g.o, g.batch, ho, wo)
	} else {
		out = op.out.get(g.batch, g.o, ho, wo)
	}
	var res []float32
	if op.residual {
		res = ts[3].Float32s()
	}
	if op.wino != nil {
		winogradForward(g, x.Float32s(), b.Float32s(), res, out.Float32s(), op.relu, op.ws, op.wino)
		return out, nil
	}
	convForward(g, x.Float32s(), w.Float32s(), b.Float32s(), res, out.Float32s(), op.relu, op.ws, op.packed)
	return out, nil
}

// convGeom is the geometry of one convolution call: batch, input channels and size,
// output channels, square kernel, stride, padding and the two activation layouts.
type convGeom struct {
	batch, c, h, w, o, k, s, p int
	inCNHW, outCNHW            bool
}

// outSize is the output height and width.
func (g convGeom) outSize() (int, int) {
	return convOutSize(g.h, g.k, g.s, g.p), convOutSize(g.w, g.k, g.s, g.p)
}

// outShape is the output shape in the output layout.
func (g convGeom) outShape() tensor.Shape {
	ho, wo := g.outSize()
	if g.outCNHW {
		return tensor.Shape{g.o, g.batch, ho, wo}
	}
	return tensor.Shape{g.batch, g.o, ho, wo}
}

// maxColFloats caps the im2col workspace: images are unrolled together, for one wider
// GEMM, only while their columns fit in 16 MB.
const maxColFloats = 1 << 22

// convForward is the kernel behind convOp: see its doc. w is read only when packed is nil.
func convForward(g convGeom, x, w, b, res, y []float32, relu bool, ws *workspace, packed *gemm.PackedA) {
	ho, wo := g.outSize()
	kk, n := g.c*g.k*g.k, ho*wo
	// where channel ch of image i starts in x: i·xImg + ch·xCh; the same for y with
	// rows (output channels) yLd apart
	xCh, xImg := g.h*g.w, g.c*g.h*g.w
	if g.inCNHW {
		xCh, xImg = g.batch*g.h*g.w, g.h*g.w
	}
	yLd, yImg := n, g.o*n
	if g.outCNHW {
		yLd, yImg = g.batch*n, n
	}
	if ws == nil {
		ws = newWorkspace()
	}
	if packed != nil && ws.fused && !ws.serial && g.k <= len(ws.fs.oxLo) {
		convForwardFused(g, x, b, res, y, relu, ws, packed)
		return
	}
	direct := g.k == 1 && g.s == 1 && g.p == 0
	switch {
	case direct && g.inCNHW && g.outCNHW: // the whole batch in one GEMM, no copy
		convGEMM(g, w, packed, x, g.batch*n, g.batch*n, y, yLd, ws.serial)
	case direct && !g.inCNHW && !g.outCNHW: // NCHW: one GEMM per image, no copy
		for i := 0; i < g.batch; i++ {
			convGEMM(g, w, packed, x[i*xImg:], n, n, y[i*yImg:], yLd, ws.serial)
		}
	default: // unroll groups of images into the workspace, one GEMM per group
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
			convGEMM(g, w, packed, col, cols, cols, y[b0*yImg:], yLd, ws.serial)
		}
	}
	// epilogue: in CNHW each output channel is one row of batch·n; in NCHW there are
	// batch·o rows of n, and row r has channel r mod o
	rows, rowLen := g.batch*g.o, n
	if g.outCNHW {
		rows, rowLen = g.o, g.batch*n
	}
	ws.epi = epilogueTask{y: y, b: b, res: res, n: rowLen, relu: relu}
	parallel(ws.serial, rows, rows*rowLen, &ws.epi)
}

// convGEMM multiplies the (packed) weights by bmat (kk × cols, rows ldb apart) into yb
// (rows yLd apart), on the calling goroutine alone if serial.
func convGEMM(g convGeom, w []float32, packed *gemm.PackedA, bmat []float32, ldb, cols int, yb []float32, yLd int, serial bool) {
	if packed != nil && serial {
		gemm.SgemmPackedASerial(packed, false, cols, 1, bmat, ldb, 0, yb, yLd)
		return
	}
	if packed != nil {
		gemm.SgemmPackedA(packed, false, cols, 1, bmat, ldb, 0, yb, yLd)
		return
	}
	kk := g.c * g.k * g.k
	gemm.Sgemm(false, false, g.o, cols, kk, 1, w, kk, bmat, ldb, 0, yb, yLd)
}

// unrollTask im2cols (or subsamples) the (image, channel) pairs [lo, hi) of a group
// of images b0.. into col (rows cols wide).
type unrollTask struct {
	g                           convGeom
	x, col                      []float32
	b0, cols, xCh, xImg, ho, wo int
}

// RunRange executes the loop body over [lo, hi) (a gemm.RangeTask).
func (t *unrollTask) RunRange(lo, hi int) {
	g, n := t.g, t.ho*t.wo
	for p := lo; p < hi; p++ {
		i, ch := p/g.c, p%g.c
		xi, ci := t.x[(t.b0+i)*t.xImg:], t.col[i*n:]
		if g.k == 1 && g.p == 0 {
			subsample(xi, t.xCh, g.h, g.w, g.s, t.ho, t.wo, ci, t.cols, ch, ch+1)
		} else {
			im2col(xi, t.xCh, g.h, g.w, g.k, g.s, g.p, t.ho, t.wo, ci, t.cols, ch, ch+1)
		}
	}
}

// epilogueTask runs epilogue over rows [lo, hi).
type epilogueTask struct {
	y, b, res []float32
	n         int
	relu      bool
}

// RunRange executes the loop body over [lo, hi) (a gemm.RangeTask).
func (t *epilogueTask) RunRange(lo, hi int) { epilogue(t.y, t.b, t.res, t.n, t.relu, lo, hi) }

// epilogue adds the bias (and residual) to rows [lo, hi) of y (rows n wide; row r has
// bias b[r mod len(b)]) and applies ReLU if asked.
func epilogue(y, b, res []float32, n int, relu bool, lo, hi int) {
	for r := lo; r < hi; r++ {
		var rr []float32
		if res != nil {
			rr = res[r*n : (r+1)*n]
		}
		epilogueRow(y[r*n:(r+1)*n], rr, b[r%len(b)], relu)
	}
}

// epilogueRow is row[i] = [ReLU](row[i] + bias [+ res[i]]): AVX2 (8 lanes) for the
// bulk where the CPU has it, the Go loop below for the rest and everywhere else.
func epilogueRow(row, res []float32, bias float32, relu bool) {
	if useAVX2 && len(row) >= 8 {
		n8 := len(row) &^ 7
		var r8 []float32
		if res != nil {
			r8 = res[:n8]
		}
		epilogueAVX2(row[:n8], r8, bias, relu)
		row = row[n8:]
		if res != nil {
			res = res[n8:]
		}
	}
	epilogueRowGo(row, res, bias, relu)
}

// epilogueRowGo is the pure-Go epilogueRow.
func epilogueRowGo(row, res []float32, bias float32, relu bool) {
	switch {
	case res != nil && relu:
		res = res[:len(row)]
		for i, v := range row {
			row[i] = max(v+bias+res[i], 0)
		}
	case res != nil:
		res = res[:len(row)]
		for i, v := range row {
			row[i] = v + bias + res[i]
		}
	case relu:
		for i, v := range row {
			row[i] = max(v+bias, 0)
		}
	default:
		for i := range row {
			row[i] += bias
		}
	}
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *convOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *convOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *convOp) String() string {
	return fmt.Sprintf("FusedConv{k=%d,s=%d,p=%d,res=%t,relu=%t}", op.k, op.stride, op.pad, op.residual, op.relu)
}

// hashOf is the FNV-1a hash of what op writes with WriteHash.
func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
