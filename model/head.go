package model

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn/gemm"
)

// Head is the classifier applied to the backbone's pooled features outside the
// graph: one linear layer (fc.weight [C,in], fc.bias [C]) or an MLP written as
// PyTorch's nn.Sequential(Linear, ReLU, Linear, …) names it (fc.0.*, fc.2.*, …), ReLU
// between layers. It is the one inference head: tag, serve, eval and training's
// validation all score through Forward, so they cannot disagree.
type Head struct {
	layers []denseLayer
}

// denseLayer is y = x·Wᵀ + b with W [out, in] as in torch.nn.Linear.
type denseLayer struct {
	w       []float32
	b       []float32
	in, out int
}

// IsHeadTensor reports whether name belongs to the classifier ("fc.…").
func IsHeadTensor(name string) bool { return strings.HasPrefix(name, "fc.") }

// NewHead builds a head from the fc.* tensors of ts (others are ignored); in is the
// feature width. Tensors are shared, not copied: the caller must not change them.
func NewHead(ts map[string]*tensor.Dense, in int) (*Head, error) {
	type pair struct{ w, b *tensor.Dense }
	var order []int
	layers := map[int]*pair{}
	for name, d := range ts {
		if !IsHeadTensor(name) {
			continue
		}
		rest := strings.TrimPrefix(name, "fc.")
		idx := -1
		if i, suffix, ok := strings.Cut(rest, "."); ok {
			n, err := strconv.Atoi(i)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("head tensor %q: unexpected name", name)
			}
			idx, rest = n, suffix
		}
		p := layers[idx]
		if p == nil {
			p = &pair{}
			layers[idx] = p
			order = append(order, idx)
		}
		switch rest {
		case "weight":
			p.w = d
		case "bias":
			p.b = d
		default:
			return nil, fmt.Errorf("head tensor %q: unexpected name", name)
		}
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("the model file has no classifier tensors (fc.weight/fc.bias or fc.0.weight, …)")
	}
	if _, ok := layers[-1]; ok && len(order) > 1 {
		return nil, fmt.Errorf("the model file mixes fc.weight with fc.N.* classifier tensors")
	}
	sort.Ints(order)
	h := &Head{}
	for _, idx := range order {
		p := layers[idx]
		name := "fc"
		if idx >= 0 {
			name = fmt.Sprintf("fc.%d", idx)
		}
		if p.w == nil || p.b == nil {
			return nil, fmt.Errorf("head layer %s lacks its weight or bias", name)
		}
		ws, bs := p.w.Shape(), p.b.Shape()
		if len(ws) != 2 || bs.TotalSize() != ws[0] || ws[1] != in {
			return nil, fmt.Errorf("head layer %s: weight %v and bias %v do not fit an input of width %d", name, ws, bs, in)
		}
		w, ok1 := p.w.Data().([]float32)
		b, ok2 := p.b.Data().([]float32)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("head layer %s: tensors are not float32", name)
		}
		h.layers = append(h.layers, denseLayer{w: w, b: b, in: in, out: ws[0]})
		in = ws[0]
	}
	return h, nil
}

// Classes is the output width.
func (h *Head) Classes() int { return h.layers[len(h.layers)-1].out }

// In is the input (feature) width.
func (h *Head) In() int { return h.layers[0].in }

// Forward maps features [n, in] to fresh logits [n, classes].
func (h *Head) Forward(features []float32, n int) []float32 {
	cur := features
	for li, l := range h.layers {
		out := make([]float32, n*l.out)
		for i := 0; i < n; i++ {
			copy(out[i*l.out:(i+1)*l.out], l.b)
		}
		// out[n,out] += cur[n,in] · W[out,in]ᵀ
		gemm.Sgemm(false, true, n, l.out, l.in, 1, cur, l.in, l.w, l.in, 1, out, l.out)
		if li+1 < len(h.layers) {
			for i, v := range out {
				if v < 0 {
					out[i] = 0
				}
			}
		}
		cur = out
	}
	return cur
}
