package train

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// stepGraph is the Gorgonia training graph of a head for one batch size: inputs x
// [B, In], pos and neg [B, Out] (loss coefficients, see Loss), the head's parameters
// as nodes whose values share memory with Head.W and Head.B (so the optimizer's
// in-place updates are what the next run sees), the loss, its gradients and a tape
// machine. A graph is tied to one batch size, so the trainer keeps one per size.
type stepGraph struct {
	g              *gorgonia.ExprGraph
	x, pos, neg    *gorgonia.Node
	params         []*gorgonia.Node // W0, B0, W1, B1, …
	loss           *gorgonia.Node
	vm             gorgonia.VM
	xT, posT, negT *tensor.Dense
	grads          [][]float32 // copies of the last gradients
}

// newStepGraph builds the graph for batch size b (its products on nn/gemm, see
// useGemmBLAS).
func newStepGraph(h *Head, loss Loss, b int) (*stepGraph, error) {
	useGemmBLAS()
	sg := &stepGraph{g: gorgonia.NewGraph()}
	g := sg.g
	d := h.dims()
	sg.xT = tensor.New(tensor.WithShape(b, h.In), tensor.WithBacking(make([]float32, b*h.In)))
	sg.posT = tensor.New(tensor.WithShape(b, h.Out), tensor.WithBacking(make([]float32, b*h.Out)))
	sg.negT = tensor.New(tensor.WithShape(b, h.Out), tensor.WithBacking(make([]float32, b*h.Out)))
	sg.x = gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(b, h.In), gorgonia.WithName("x"), gorgonia.WithValue(sg.xT))
	sg.pos = gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(b, h.Out), gorgonia.WithName("pos"), gorgonia.WithValue(sg.posT))
	sg.neg = gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(b, h.Out), gorgonia.WithName("neg"), gorgonia.WithValue(sg.negT))
	cur := sg.x
	for l := range h.W {
		w := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(d[l], d[l+1]), gorgonia.WithName(fmt.Sprintf("w%d", l)),
			gorgonia.WithValue(tensor.New(tensor.WithShape(d[l], d[l+1]), tensor.WithBacking(h.W[l]))))
		bias := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(1, d[l+1]), gorgonia.WithName(fmt.Sprintf("b%d", l)),
			gorgonia.WithValue(tensor.New(tensor.WithShape(1, d[l+1]), tensor.WithBacking(h.B[l]))))
		sg.params = append(sg.params, w, bias)
		mm, err := gorgonia.Mul(cur, w)
		if err != nil {
			return nil, fmt.Errorf("train: head graph layer %d: %w", l, err)
		}
		if cur, err = gorgonia.BroadcastAdd(mm, bias, nil, []byte{0}); err != nil {
			return nil, fmt.Errorf("train: head graph layer %d bias: %w", l, err)
		}
		if l+1 < len(h.W) {
			if cur, err = gorgonia.Rectify(cur); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if sg.loss, err = loss.Build(cur, sg.pos, sg.neg); err != nil {
		return nil, err
	}
	if _, err = gorgonia.Grad(sg.loss, sg.params...); err != nil {
		return nil, fmt.Errorf("train: head graph gradients: %w", err)
	}
	sg.vm = gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(sg.params...))
	return sg, nil
}

// run executes forward and backward on the inputs already copied into xT, posT and
// negT, returning the loss and the gradients (slices owned by the graph, valid until
// the next run).
func (sg *stepGraph) run() (float32, [][]float32, error) {
	sg.vm.Reset()
	if err := sg.vm.RunAll(); err != nil {
		return 0, nil, fmt.Errorf("train: step: %w", err)
	}
	loss, ok := sg.loss.Value().Data().(float32)
	if !ok {
		return 0, nil, fmt.Errorf("train: step: loss is %T", sg.loss.Value().Data())
	}
	grads := make([][]float32, len(sg.params))
	for i, p := range sg.params {
		gv, err := p.Grad()
		if err != nil {
			return 0, nil, fmt.Errorf("train: gradient of %s: %w", p.Name(), err)
		}
		d := gv.Data().([]float32)
		if sg.grads == nil {
			sg.grads = make([][]float32, len(sg.params))
		}
		if sg.grads[i] == nil {
			sg.grads[i] = make([]float32, len(d))
		}
		copy(sg.grads[i], d)
		grads[i] = sg.grads[i]
		// Gorgonia's tape machine accumulates into the parameters' gradients (its
		// own solvers zero them after each update), so clear them for the next run.
		clear(d)
	}
	return loss, grads, nil
}

// close releases the tape machine.
func (sg *stepGraph) close() { sg.vm.Close() }
