package nn

import (
	"fmt"
	"hash"

	"github.com/autotag/autotag/nn/gemm"
	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// linearOp is a fully connected layer y = x·Wᵀ + b (x [B,F], W [C,F] as in PyTorch,
// b [C]): one GEMM with the weight read transposed in place, then the bias. It is
// differentiable with respect to all three inputs.
type linearOp struct {
	base
	out outBuf
}

// LinearNode applies y = x·Wᵀ + b to graph nodes x [B,F], w [C,F], b [C].
func LinearNode(x, w, b *gorgonia.Node) (*gorgonia.Node, error) {
	n, err := gorgonia.ApplyOp(&linearOp{base: newBase()}, x, w, b)
	if err != nil {
		return nil, fmt.Errorf("nn: linear %s: %w", w.Name(), err)
	}
	return n, nil
}

// Arity is the number of inputs the operator takes.
func (op *linearOp) Arity() int { return 3 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *linearOp) Type() hm.Type { return fnType(2, 2, 1, 2) }

// InferShape checks the input shapes and returns the output's.
func (op *linearOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, ok1 := inputs[0].(tensor.Shape)
	w, ok2 := inputs[1].(tensor.Shape)
	b, ok3 := inputs[2].(tensor.Shape)
	if !ok1 || !ok2 || !ok3 || len(x) != 2 || len(w) != 2 || len(b) != 1 || x[1] != w[1] || w[0] != b[0] {
		return nil, fmt.Errorf("%v: input %v, weight %v and bias %v disagree", op, inputs[0], inputs[1], inputs[2])
	}
	return tensor.Shape{x[0], w[0]}, nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *linearOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 3, inputs)
	if err != nil {
		return nil, err
	}
	bsz, f, c := ts[0].Shape()[0], ts[0].Shape()[1], ts[1].Shape()[0]
	out := op.out.get(bsz, c)
	y, bias := out.Float32s(), ts[2].Float32s()
	gemm.Sgemm(false, true, bsz, c, f, 1, ts[0].Float32s(), f, ts[1].Float32s(), f, 0, y, c)
	for i := 0; i < bsz; i++ {
		row := y[i*c : (i+1)*c]
		for j := range row {
			row[j] += bias[j]
		}
	}
	return out, nil
}

// DiffWRT: x, W and b are all differentiable.
func (op *linearOp) DiffWRT(int) []bool { return []bool{true, true, true} }

// SymDiff: dx = dy·W, dW = dyᵀ·x, db = Σ_batch dy.
func (op *linearOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 3 {
		return nil, fmt.Errorf("%v: want 3 inputs, got %d", op, len(inputs))
	}
	x, w := inputs[0], inputs[1]
	dx, err := gorgonia.ApplyOp(&matmulOp{base: newBase(), kind: mmGradX}, grad, w)
	if err != nil {
		return nil, err
	}
	dw, err := gorgonia.ApplyOp(&matmulOp{base: newBase(), kind: mmGradW}, grad, x)
	if err != nil {
		return nil, err
	}
	db, err := gorgonia.ApplyOp(&biasGradOp{base: newBase(), dims: 2}, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dw, db}, nil
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *linearOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *linearOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *linearOp) String() string { return "Linear" }

// matmul kinds of the linear layer's backward pass.
const (
	mmGradX = iota // (dy [B,C], W [C,F]) → dy·W [B,F]
	mmGradW        // (dy [B,C], x [B,F]) → dyᵀ·x [C,F]
)

// matmulOp is one of the two GEMMs of linearOp's gradient.
type matmulOp struct {
	base
	kind int
	out  outBuf
}

// Arity is the number of inputs the operator takes.
func (op *matmulOp) Arity() int { return 2 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *matmulOp) Type() hm.Type { return fnType(2, 2, 2) }

// InferShape checks the input shapes and returns the output's.
func (op *matmulOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	a, ok1 := inputs[0].(tensor.Shape)
	b, ok2 := inputs[1].(tensor.Shape)
	if !ok1 || !ok2 || len(a) != 2 || len(b) != 2 {
		return nil, fmt.Errorf("%v: bad shapes %v", op, inputs)
	}
	if op.kind == mmGradX && a[1] == b[0] {
		return tensor.Shape{a[0], b[1]}, nil
	}
	if op.kind == mmGradW && a[0] == b[0] {
		return tensor.Shape{a[1], b[1]}, nil
	}
	return nil, fmt.Errorf("%v: shapes %v and %v disagree", op, a, b)
}

// Do runs the kernel into the operator's own output buffer.
func (op *matmulOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 2, inputs)
	if err != nil {
		return nil, err
	}
	a, b := ts[0], ts[1]
	as, bs := a.Shape(), b.Shape()
	if op.kind == mmGradX {
		out := op.out.get(as[0], bs[1])
		gemm.Sgemm(false, false, as[0], bs[1], as[1], 1, a.Float32s(), as[1], b.Float32s(), bs[1], 0, out.Float32s(), bs[1])
		return out, nil
	}
	out := op.out.get(as[1], bs[1])
	gemm.Sgemm(true, false, as[1], bs[1], as[0], 1, a.Float32s(), as[1], b.Float32s(), bs[1], 0, out.Float32s(), bs[1])
	return out, nil
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *matmulOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *matmulOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *matmulOp) String() string { return fmt.Sprintf("LinearGrad{%d}", op.kind) }

// biasGradOp sums a gradient over everything but the channel axis: [B,C] → [C] for
// the linear layer, [B,C,H,W] → [C] for convolutions.
type biasGradOp struct {
	base
	dims int // rank of the gradient: 2 or 4
	out  outBuf
}

// Arity is the number of inputs the operator takes.
func (op *biasGradOp) Arity() int { return 1 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *biasGradOp) Type() hm.Type { return fnType(op.dims, 1) }

// InferShape checks the input shapes and returns the output's.
func (op *biasGradOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, ok := inputs[0].(tensor.Shape)
	if !ok || len(s) != op.dims || (len(s) != 2 && len(s) != 4) {
		return nil, fmt.Errorf("%v: want a 2-D or 4-D input, got %v", op, inputs[0])
	}
	return tensor.Shape{s[1]}, nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *biasGradOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 1, inputs)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	b, c, plane := s[0], s[1], 1
	if len(s) == 4 {
		plane = s[2] * s[3]
	}
	out := op.out.get(c)
	g, db := ts[0].Float32s(), out.Float32s()
	clear(db)
	for i := 0; i < b; i++ {
		for ch := 0; ch < c; ch++ {
			var sum float32
			for _, v := range g[(i*c+ch)*plane : (i*c+ch+1)*plane] {
				sum += v
			}
			db[ch] += sum
		}
	}
	return out, nil
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *biasGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *biasGradOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator and its attributes.
func (op *biasGradOp) String() string { return "BiasGrad" }
