package nn

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolOp is k×k max pooling with stride s and −∞ padding p on every side
// (padded cells never win), as in PyTorch's MaxPool2d and ONNX MaxPool. ResNet50 uses
// 3x3/2 pad 1 after the stem (He et al. 2015, Table 1). Gorgonia's own MaxPool is wrong
// with unequal padding (DESIGN.md §3), hence this one. Inference only: no gradient.
type maxPoolOp struct {
	base
	k, stride, pad int
	out            outBuf
	task           maxPoolTask
	serial         bool // run on the calling goroutine alone (see workspace.serial)
}

// maxPoolTask pools planes [lo, hi).
type maxPoolTask struct {
	x, y                  []float32
	h, w, k, s, p, ho, wo int
}

// RunRange executes the loop body over [lo, hi) (a gemm.RangeTask).
func (t *maxPoolTask) RunRange(lo, hi int) {
	hw, ohw := t.h*t.w, t.ho*t.wo
	for pl := lo; pl < hi; pl++ {
		maxPoolPlane(t.x[pl*hw:(pl+1)*hw], t.h, t.w, t.k, t.s, t.p, t.ho, t.wo, t.y[pl*ohw:(pl+1)*ohw])
	}
}

// MaxPool2d applies k×k max pooling with the given stride and padding to x [B,C,H,W].
func MaxPool2d(x *gorgonia.Node, k, stride, pad int) (*gorgonia.Node, error) {
	return maxPool2d(x, k, stride, pad, false)
}

// maxPool2d is MaxPool2d, on the calling goroutine alone if serial.
func maxPool2d(x *gorgonia.Node, k, stride, pad int, serial bool) (*gorgonia.Node, error) {
	n, err := gorgonia.ApplyOp(&maxPoolOp{base: newBase(), k: k, stride: stride, pad: pad, serial: serial}, x)
	if err != nil {
		return nil, fmt.Errorf("nn: maxpool: %w", err)
	}
	return n, nil
}

// Arity is the number of inputs the operator takes.
func (op *maxPoolOp) Arity() int { return 1 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *maxPoolOp) Type() hm.Type { return fnType(4, 4) }

// InferShape checks the input shapes and returns the output's.
func (op *maxPoolOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, ok := inputs[0].(tensor.Shape)
	if !ok || len(x) != 4 {
		return nil, fmt.Errorf("%v: want a [B,C,H,W] input, got %v", op, inputs[0])
	}
	ho, wo := convOutSize(x[2], op.k, op.stride, op.pad), convOutSize(x[3], op.k, op.stride, op.pad)
	if ho < 1 || wo < 1 || op.pad >= op.k {
		return nil, fmt.Errorf("%v: input %v too small", op, x)
	}
	return tensor.Shape{x[0], x[1], ho, wo}, nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *maxPoolOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 1, inputs)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	b, c, h, w := xs[0], xs[1], xs[2], xs[3]
	k, s, p := op.k, op.stride, op.pad
	ho, wo := convOutSize(h, k, s, p), convOutSize(w, k, s, p)
	out := op.out.get(b, c, ho, wo)
	t := &op.task
	t.x, t.y, t.h, t.w, t.k, t.s, t.p, t.ho, t.wo = ts[0].Float32s(), out.Float32s(), h, w, k, s, p, ho, wo
	parallel(op.serial, b*c, b*c*ho*wo*k*k, t)
	return out, nil
}

// maxPoolPlane pools one h×w plane into ho×wo. The 3x3 windows that lie inside the
// plane (all but the border ones) take a fast path on three row slices.
func maxPoolPlane(x []float32, h, w, k, s, p, ho, wo int, y []float32) {
	for oy := 0; oy < ho; oy++ {
		y0, y1 := max(oy*s-p, 0), min(oy*s-p+k, h)
		yr := y[oy*wo : (oy+1)*wo]
		if k == 3 && y1-y0 == 3 {
			r0, r1, r2 := x[y0*w:(y0+1)*w], x[(y0+1)*w:(y0+2)*w], x[(y0+2)*w:(y0+3)*w]
			for ox := range yr {
				if x0 := ox*s - p; x0 >= 0 && x0+3 <= w {
					yr[ox] = max(r0[x0], r0[x0+1], r0[x0+2], r1[x0], r1[x0+1], r1[x0+2], r2[x0], r2[x0+1], r2[x0+2])
				} else {
					yr[ox] = windowMax(x, w, y0, y1, ox, k, s, p)
				}
			}
			continue
		}
		for ox := range yr {
			yr[ox] = windowMax(x, w, y0, y1, ox, k, s, p)
		}
	}
}

// windowMax is the maximum of rows [y0, y1) of the window of output column ox.
func windowMax(x []float32, w, y0, y1, ox, k, s, p int) float32 {
	x0, x1 := max(ox*s-p, 0), min(ox*s-p+k, w)
	m := float32(math.Inf(-1))
	for iy := y0; iy < y1; iy++ {
		for _, v := range x[iy*w+x0 : iy*w+x1] {
			m = max(m, v)
		}
	}
	return m
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *maxPoolOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *maxPoolOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *maxPoolOp) String() string {
	return fmt.Sprintf("MaxPool{k=%d,s=%d,p=%d}", op.k, op.stride, op.pad)
}
