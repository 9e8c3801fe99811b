package nn

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gapOp is global average pooling (Lin et al. 2013, "Network In Network"; ResNet50's
// "average pool" before fc): [B,C,H,W] → [B,C], the mean of each plane. Unlike
// Gorgonia's GlobalAveragePool2D it has a gradient (SymDiff for gorgonia.Grad and
// DoDiff for the LispMachine), so training can back-propagate through it.
type gapOp struct {
	base
	cnhw bool // input is (C,B,H,W), a Runner's layout; the output is (B,C) either way
	out  outBuf
}

// GlobalAvgPool averages each channel plane of x [B,C,H,W] into [B,C].
func GlobalAvgPool(x *gorgonia.Node) (*gorgonia.Node, error) { return globalAvgPool(x, false) }

func globalAvgPool(x *gorgonia.Node, cnhw bool) (*gorgonia.Node, error) {
	n, err := gorgonia.ApplyOp(&gapOp{base: newBase(), cnhw: cnhw}, x)
	if err != nil {
		return nil, fmt.Errorf("nn: global average pool: %w", err)
	}
	return n, nil
}

// Arity is the number of inputs the operator takes.
func (op *gapOp) Arity() int { return 1 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *gapOp) Type() hm.Type { return fnType(4, 2) }

// InferShape checks the input shapes and returns the output's.
func (op *gapOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, ok := inputs[0].(tensor.Shape)
	if !ok || len(x) != 4 {
		return nil, fmt.Errorf("%v: want a [B,C,H,W] input, got %v", op, inputs[0])
	}
	if op.cnhw {
		return tensor.Shape{x[1], x[0]}, nil
	}
	return tensor.Shape{x[0], x[1]}, nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *gapOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 1, inputs)
	if err != nil {
		return nil, err
	}
	xs := ts[0].Shape()
	b, c, hw := xs[0], xs[1], xs[2]*xs[3]
	if op.cnhw {
		b, c = c, b
		out := op.out.get(b, c)
		gapForwardCNHW(ts[0].Float32s(), out.Float32s(), b, c, hw)
		return out, nil
	}
	out := op.out.get(b, c)
	gapForward(ts[0].Float32s(), out.Float32s(), b*c, hw)
	return out, nil
}

// gapForward writes the mean of each of the planes hw-long planes of x into y.
func gapForward(x, y []float32, planes, hw int) {
	inv := 1 / float32(hw)
	for pl := 0; pl < planes; pl++ {
		var s float32
		for _, v := range x[pl*hw : (pl+1)*hw] {
			s += v
		}
		y[pl] = s * inv
	}
}

// gapForwardCNHW pools x (C,B,hw) into y (B,C): plane ch·b + i is y[i·c + ch].
func gapForwardCNHW(x, y []float32, b, c, hw int) {
	inv := 1 / float32(hw)
	for ch := 0; ch < c; ch++ {
		for i := 0; i < b; i++ {
			var s float32
			for _, v := range x[(ch*b+i)*hw : (ch*b+i+1)*hw] {
				s += v
			}
			y[i*c+ch] = s * inv
		}
	}
}

// DiffWRT: the pooled input is differentiable.
func (op *gapOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff: ∂L/∂x[b,c,h,w] = ∂L/∂y[b,c] / (H·W).
func (op *gapOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 || op.cnhw {
		return nil, fmt.Errorf("%v: gradient needs one NCHW input", op)
	}
	dx, err := gorgonia.ApplyOp(&gapGradOp{base: newBase()}, inputs[0], grad)
	if err != nil {
		return nil, fmt.Errorf("nn: global average pool gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

// DoDiff accumulates the gradient of output into the input's gradient (LispMachine).
func (op *gapOp) DoDiff(ctx gorgonia.ExecutionContext, inputs gorgonia.Nodes, output *gorgonia.Node) (err error) {
	defer guard(op, &err)
	if op.cnhw {
		return fmt.Errorf("%v: gradient needs an NCHW input", op)
	}
	gx, err := inputs[0].Grad()
	if err != nil {
		return err
	}
	gy, err := output.Grad()
	if err != nil {
		return err
	}
	dx, err1 := dense(gx)
	dy, err2 := dense(gy)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%v: gradients are not float32 dense tensors", op)
	}
	s := dx.Shape()
	gapBackward(dy.Float32s(), dx.Float32s(), s[0]*s[1], s[2]*s[3], true)
	return nil
}

// gapBackward spreads dy[pl]/hw over each plane of dx (adding when accumulate is set).
func gapBackward(dy, dx []float32, planes, hw int, accumulate bool) {
	inv := 1 / float32(hw)
	for pl := 0; pl < planes; pl++ {
		g := dy[pl] * inv
		row := dx[pl*hw : (pl+1)*hw]
		for i := range row {
			if accumulate {
				row[i] += g
			} else {
				row[i] = g
			}
		}
	}
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *gapOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *gapOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *gapOp) String() string { return "GlobalAvgPool" }

// gapGradOp computes the input gradient of gapOp from (x, dy); x gives only the shape.
type gapGradOp struct {
	base
	out outBuf
}

// Arity is the number of inputs the operator takes.
func (op *gapGradOp) Arity() int { return 2 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *gapGradOp) Type() hm.Type { return fnType(4, 2, 4) }

// InferShape checks the input shapes and returns the output's.
func (op *gapGradOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, ok := inputs[0].(tensor.Shape)
	if !ok || len(x) != 4 {
		return nil, fmt.Errorf("%v: want a [B,C,H,W] input, got %v", op, inputs[0])
	}
	return x.Clone(), nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *gapGradOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 2, inputs)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	out := op.out.get(s[0], s[1], s[2], s[3])
	gapBackward(ts[1].Float32s(), out.Float32s(), s[0]*s[1], s[2]*s[3], false)
	return out, nil
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *gapGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *gapGradOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *gapGradOp) String() string { return "GlobalAvgPoolGrad" }
