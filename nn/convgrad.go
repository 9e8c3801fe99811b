package nn

import (
	"fmt"
	"hash"

	"github.com/autotag/autotag/nn/gemm"
	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The backward pass of the fused convolution y = ReLU(conv(x, W) + b + r). With
// dz = dy ⊙ [y > 0] (or dy without ReLU):
//
//	dx = col2im(Wᵀ·dz),  dW = Σ_images dz·colᵀ,  db = Σ dz,  dr = dz
//
// computed per image with the same im2col as the forward pass. These operators run
// when fine-tuning (layer4 with BN frozen), so they favour clarity over speed.

// DiffWRT: every input of the fused convolution is differentiable.
func (op *convOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff builds the gradient nodes of x, W, b (and r).
func (op *convOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.inCNHW || op.outCNHW {
		return nil, fmt.Errorf("%v: gradients are implemented for NCHW convolutions (Conv2d), not a Runner's CNHW ones", op)
	}
	if len(inputs) != op.Arity() {
		return nil, fmt.Errorf("%v: want %d inputs, got %d", op, op.Arity(), len(inputs))
	}
	x, w := inputs[0], inputs[1]
	dz := grad
	var err error
	if op.relu {
		if dz, err = gorgonia.ApplyOp(&reluGradOp{base: newBase()}, output, grad); err != nil {
			return nil, err
		}
	}
	dx, err := gorgonia.ApplyOp(&convGradOp{base: newBase(), k: op.k, stride: op.stride, pad: op.pad, wrtInput: true}, x, w, dz)
	if err != nil {
		return nil, err
	}
	dw, err := gorgonia.ApplyOp(&convGradOp{base: newBase(), k: op.k, stride: op.stride, pad: op.pad}, x, w, dz)
	if err != nil {
		return nil, err
	}
	db, err := gorgonia.ApplyOp(&biasGradOp{base: newBase(), dims: 4}, dz)
	if err != nil {
		return nil, err
	}
	ret := gorgonia.Nodes{dx, dw, db}
	if op.residual {
		ret = append(ret, dz)
	}
	return ret, nil
}

// reluGradOp is dz = dy ⊙ [y > 0] from (y, dy).
type reluGradOp struct {
	base
	out outBuf
}

// Arity is the number of inputs the operator takes.
func (op *reluGradOp) Arity() int { return 2 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *reluGradOp) Type() hm.Type { return fnType(4, 4, 4) }

// InferShape checks the input shapes and returns the output's.
func (op *reluGradOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	y, ok1 := inputs[0].(tensor.Shape)
	g, ok2 := inputs[1].(tensor.Shape)
	if !ok1 || !ok2 || !y.Eq(g) {
		return nil, fmt.Errorf("%v: shapes %v and %v disagree", op, inputs[0], inputs[1])
	}
	return y.Clone(), nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *reluGradOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 2, inputs)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	out := op.out.get(s[0], s[1], s[2], s[3])
	y, g, dz := ts[0].Float32s(), ts[1].Float32s(), out.Float32s()
	for i, v := range y {
		if v > 0 {
			dz[i] = g[i]
		} else {
			dz[i] = 0
		}
	}
	return out, nil
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *reluGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *reluGradOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *reluGradOp) String() string { return "ReLUGrad" }

// convGradOp computes, from (x, W, dz), the gradient of the convolution's input
// (wrtInput) or of its weight.
type convGradOp struct {
	base
	k, stride, pad int
	wrtInput       bool
	out            outBuf
}

// Arity is the number of inputs the operator takes.
func (op *convGradOp) Arity() int { return 3 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *convGradOp) Type() hm.Type { return fnType(4, 4, 4, 4) }

// InferShape checks the input shapes and returns the output's.
func (op *convGradOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, ok1 := inputs[0].(tensor.Shape)
	w, ok2 := inputs[1].(tensor.Shape)
	if !ok1 || !ok2 || len(x) != 4 || len(w) != 4 {
		return nil, fmt.Errorf("%v: bad shapes %v", op, inputs)
	}
	if op.wrtInput {
		return x.Clone(), nil
	}
	return w.Clone(), nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *convGradOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 3, inputs)
	if err != nil {
		return nil, err
	}
	xs, wsh := ts[0].Shape(), ts[1].Shape()
	b, c, h, wd, o := xs[0], xs[1], xs[2], xs[3], wsh[0]
	k, s, p := op.k, op.stride, op.pad
	ho, wo := convOutSize(h, k, s, p), convOutSize(wd, k, s, p)
	kk, n := c*k*k, ho*wo
	x, w, dz := ts[0].Float32s(), ts[1].Float32s(), ts[2].Float32s()
	col := make([]float32, kk*n)
	if op.wrtInput {
		out := op.out.get(b, c, h, wd)
		dx := out.Float32s()
		clear(dx)
		for i := 0; i < b; i++ {
			gemm.Sgemm(true, false, kk, n, o, 1, w, kk, dz[i*o*n:(i+1)*o*n], n, 0, col, n)
			col2im(col, h, wd, k, s, p, ho, wo, dx[i*c*h*wd:(i+1)*c*h*wd], 0, c)
		}
		return out, nil
	}
	out := op.out.get(o, c, k, k)
	dw := out.Float32s()
	for i := 0; i < b; i++ {
		im2col(x[i*c*h*wd:(i+1)*c*h*wd], h*wd, h, wd, k, s, p, ho, wo, col, n, 0, c)
		beta := float32(1)
		if i == 0 {
			beta = 0
		}
		gemm.Sgemm(false, true, o, kk, n, 1, dz[i*o*n:(i+1)*o*n], n, col, n, beta, dw, kk)
	}
	return out, nil
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *convGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *convGradOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *convGradOp) String() string {
	return fmt.Sprintf("ConvGrad{k=%d,s=%d,p=%d,input=%t}", op.k, op.stride, op.pad, op.wrtInput)
}
