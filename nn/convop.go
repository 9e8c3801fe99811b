package nn

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/autotag/autotag/nn/gemm"
	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convOp is the fused convolution operator: y = ReLU(conv(x, W) + b [+ r]) on NCHW
// float32 tensors, with W in OIHW. Its inputs are x, W, b and, when residual, r (the
// shortcut of a bottleneck, He et al. 2015 eq. 1); relu may be off. 1x1 stride-1
// convolutions are one GEMM per image straight on the activations; strided 1x1 ones
// subsample first; larger kernels go through im2col into the graph's shared workspace.
// The bias / residual / ReLU epilogue is one pass over the output, on two goroutines.
type convOp struct {
	base
	k, stride, pad int
	relu, residual bool
	ws             *workspace
	out            outBuf
	// packed, when set, is the weight input already packed for the GEMM (inference
	// runners, whose weights never change); nil means pack the weight on every call.
	packed *gemm.PackedA
}

// Conv2d applies the fused convolution to graph nodes x [B,C,H,W], w [O,C,k,k], b [O]
// and, if res is not nil, adds res [B,O,Ho,Wo] before the optional ReLU. It is
// differentiable with respect to every input (gorgonia.Grad works through it).
func Conv2d(x, w, b, res *gorgonia.Node, stride, pad int, relu bool) (*gorgonia.Node, error) {
	return conv2d(x, w, b, res, stride, pad, relu, nil, nil)
}

func conv2d(x, w, b, res *gorgonia.Node, stride, pad int, relu bool, ws *workspace, packed *gemm.PackedA) (*gorgonia.Node, error) {
	ws2 := w.Shape()
	if len(ws2) != 4 || ws2[2] != ws2[3] {
		return nil, fmt.Errorf("nn: conv weight %s has shape %v, want [out,in,k,k]", w.Name(), ws2)
	}
	op := &convOp{base: newBase(), k: ws2[2], stride: stride, pad: pad, relu: relu, residual: res != nil, ws: ws, packed: packed}
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

func (op *convOp) Arity() int {
	if op.residual {
		return 4
	}
	return 3
}

func (op *convOp) Type() hm.Type {
	if op.residual {
		return fnType(4, 4, 1, 4, 4)
	}
	return fnType(4, 4, 1, 4)
}

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
	if x[1] != w[1] || w[0] != b[0] {
		return nil, fmt.Errorf("%v: input %v, weight %v and bias %v disagree", op, x, w, b)
	}
	ho, wo := convOutSize(x[2], op.k, op.stride, op.pad), convOutSize(x[3], op.k, op.stride, op.pad)
	if ho < 1 || wo < 1 {
		return nil, fmt.Errorf("%v: input %v too small", op, x)
	}
	out := tensor.Shape{x[0], w[0], ho, wo}
	if op.residual {
		if r, ok := inputs[3].(tensor.Shape); !ok || !r.Eq(out) {
			return nil, fmt.Errorf("%v: residual shape %v, want %v", op, inputs[3], out)
		}
	}
	return out, nil
}

func (op *convOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, op.Arity(), inputs)
	if err != nil {
		return nil, err
	}
	x, w, b := ts[0], ts[1], ts[2]
	xs, wsh := x.Shape(), w.Shape()
	bn, c, h, wd := xs[0], xs[1], xs[2], xs[3]
	o := wsh[0]
	ho, wo := convOutSize(h, op.k, op.stride, op.pad), convOutSize(wd, op.k, op.stride, op.pad)
	out := op.out.get(bn, o, ho, wo)
	var res []float32
	if op.residual {
		res = ts[3].Float32s()
	}
	convForward(x.Float32s(), w.Float32s(), b.Float32s(), res, out.Float32s(),
		bn, c, h, wd, o, op.k, op.stride, op.pad, op.relu, op.ws, op.packed)
	return out, nil
}

// convForward is the kernel behind convOp: see its doc.
func convForward(x, w, b, res, y []float32, bn, c, h, wd, o, k, s, p int, relu bool, ws *workspace, packed *gemm.PackedA) {
	ho, wo := convOutSize(h, k, s, p), convOutSize(wd, k, s, p)
	kk, n := c*k*k, ho*wo
	direct := k == 1 && s == 1 && p == 0
	var col []float32
	if !direct {
		col = ws.get(kk * n)
	}
	for img := 0; img < bn; img++ {
		xi := x[img*c*h*wd : (img+1)*c*h*wd]
		yi := y[img*o*n : (img+1)*o*n]
		bmat := xi
		switch {
		case direct:
		case k == 1 && p == 0:
			parallelFor(c, c*n, func(lo, hi int) { subsample(xi, h, wd, s, ho, wo, col, lo, hi) })
			bmat = col
		default:
			parallelFor(c, kk*n, func(lo, hi int) { im2col(xi, h, wd, k, s, p, ho, wo, col, lo, hi) })
			bmat = col
		}
		if packed != nil {
			gemm.SgemmPackedA(packed, false, n, 1, bmat, n, 0, yi, n)
		} else {
			gemm.Sgemm(false, false, o, n, kk, 1, w, kk, bmat, n, 0, yi, n)
		}
		var ri []float32
		if res != nil {
			ri = res[img*o*n : (img+1)*o*n]
		}
		parallelFor(o, o*n, func(lo, hi int) { epilogue(yi, b, ri, n, relu, lo, hi) })
	}
}

// epilogue adds the bias (and residual) to rows [lo, hi) of y (one row per output
// channel, n wide) and applies ReLU if asked.
func epilogue(y, b, res []float32, n int, relu bool, lo, hi int) {
	for ch := lo; ch < hi; ch++ {
		row := y[ch*n : (ch+1)*n]
		bias := b[ch]
		switch {
		case res != nil && relu:
			r := res[ch*n : (ch+1)*n]
			for i, v := range row {
				row[i] = max(v+bias+r[i], 0)
			}
		case res != nil:
			r := res[ch*n : (ch+1)*n]
			for i, v := range row {
				row[i] = v + bias + r[i]
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
}

func (op *convOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

func (op *convOp) Hashcode() uint32 { return hashOf(op) }

func (op *convOp) String() string {
	return fmt.Sprintf("FusedConv{k=%d,s=%d,p=%d,res=%t,relu=%t}", op.k, op.stride, op.pad, op.residual, op.relu)
}

// hashOf is the FNV-1a hash of what op writes with WriteHash.
func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
