package nn

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// toNCHWOp turns a Runner's CNHW activation (C,B,H,W) into NCHW (B,C,H,W): one copy of
// each plane, used only at the end of a trunk runner (NewTrunkRunner).
type toNCHWOp struct {
	base
	out outBuf
}

// Arity is the number of inputs the operator takes.
func (op *toNCHWOp) Arity() int { return 1 }

// Type is the operator's Hindley-Milner type over tensors of a type variable.
func (op *toNCHWOp) Type() hm.Type { return fnType(4, 4) }

// InferShape checks the input shapes and returns the output's.
func (op *toNCHWOp) InferShape(inputs ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, ok := inputs[0].(tensor.Shape)
	if !ok || len(x) != 4 {
		return nil, fmt.Errorf("%v: want a (C,B,H,W) input, got %v", op, inputs[0])
	}
	return tensor.Shape{x[1], x[0], x[2], x[3]}, nil
}

// Do runs the kernel into the operator's own output buffer.
func (op *toNCHWOp) Do(inputs ...gorgonia.Value) (v gorgonia.Value, err error) {
	defer guard(op, &err)
	ts, err := denses(op, 1, inputs)
	if err != nil {
		return nil, err
	}
	s := ts[0].Shape()
	c, b, hw := s[0], s[1], s[2]*s[3]
	out := op.out.get(b, c, s[2], s[3])
	x, y := ts[0].Float32s(), out.Float32s()
	for ch := 0; ch < c; ch++ {
		for i := 0; i < b; i++ {
			copy(y[(i*c+ch)*hw:(i*c+ch+1)*hw], x[(ch*b+i)*hw:(ch*b+i+1)*hw])
		}
	}
	return out, nil
}

// WriteHash writes the operator's identity (its id keeps instances apart).
func (op *toNCHWOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String(), op.id) }

// Hashcode is the FNV-1a hash of WriteHash.
func (op *toNCHWOp) Hashcode() uint32 { return hashOf(op) }

// String names the operator.
func (op *toNCHWOp) String() string { return "CNHWToNCHW" }

func (op *toNCHWOp) output() *outBuf { return &op.out }
