package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/nn"
)

// HeadSpec describes the classifier on top of the pooled 2048-d features: a single
// linear layer (no hidden layers) or an MLP with ReLU between layers.
type HeadSpec struct {
	Hidden []int // hidden layer widths; empty for a linear head
}

// ParseHead parses "linear" (or "") and "mlp:H1,H2,…" (e.g. "mlp:1024,512").
func ParseHead(s string) (HeadSpec, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "linear" {
		return HeadSpec{}, nil
	}
	rest, ok := strings.CutPrefix(s, "mlp:")
	if !ok {
		return HeadSpec{}, fmt.Errorf("train: head %q: want linear or mlp:H1,H2,…", s)
	}
	var h HeadSpec
	for _, f := range strings.Split(rest, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 || v > 1<<16 {
			return HeadSpec{}, fmt.Errorf("train: head %q: bad hidden width %q", s, f)
		}
		h.Hidden = append(h.Hidden, v)
	}
	return h, nil
}

// String is the form stored in weights.Metadata.Head: "linear" or "mlp:1024,512".
func (h HeadSpec) String() string {
	if len(h.Hidden) == 0 {
		return "linear"
	}
	parts := make([]string, len(h.Hidden))
	for i, v := range h.Hidden {
		parts[i] = strconv.Itoa(v)
	}
	return "mlp:" + strings.Join(parts, ",")
}

// Head is a trained (or training) classifier: layers of W (row-major [in, out], i.e.
// the transpose of PyTorch's nn.Linear weight) and B ([out]), ReLU between layers.
type Head struct {
	Spec HeadSpec
	In   int         // input width (2048 for ResNet50)
	Out  int         // number of classes
	W, B [][]float32 // per layer
}

// dims returns the widths in, hidden…, out.
func (h *Head) dims() []int {
	return append(append([]int{h.In}, h.Spec.Hidden...), h.Out)
}

// NewHead initialises a head like PyTorch's nn.Linear (Kaiming-uniform weights and
// uniform biases, both in ±1/√fan_in), from a seeded generator.
func NewHead(spec HeadSpec, in, out int, seed uint64) *Head {
	h := &Head{Spec: spec, In: in, Out: out}
	rng := rand.New(rand.NewPCG(seed, 0x6865616469)) // "headi"
	d := h.dims()
	for l := 0; l+1 < len(d); l++ {
		bound := 1 / math.Sqrt(float64(d[l]))
		w := make([]float32, d[l]*d[l+1])
		b := make([]float32, d[l+1])
		for i := range w {
			w[i] = float32((rng.Float64()*2 - 1) * bound)
		}
		for i := range b {
			b[i] = float32((rng.Float64()*2 - 1) * bound)
		}
		h.W = append(h.W, w)
		h.B = append(h.B, b)
	}
	return h
}

// Clone returns a deep copy.
func (h *Head) Clone() *Head {
	c := &Head{Spec: HeadSpec{Hidden: append([]int(nil), h.Spec.Hidden...)}, In: h.In, Out: h.Out}
	for l := range h.W {
		c.W = append(c.W, append([]float32(nil), h.W[l]...))
		c.B = append(c.B, append([]float32(nil), h.B[l]...))
	}
	return c
}

// Forward computes logits [n, Out] for features x [n, In] through model.Head, the
// one inference head that tag, serve and eval use, so validation, threshold
// calibration and serving score alike.
func (h *Head) Forward(x []float32, n int) []float32 {
	mh, err := model.NewHead(h.Tensors(), h.In)
	if err != nil {
		// h's own tensors always fit it; a mismatch is a bug in this package
		panic(fmt.Sprintf("train: head %s: %v", h.Spec, err))
	}
	return mh.Forward(x, n)
}

// Probabilities returns sigmoid(Forward(x)), with the sigmoid tag applies.
func (h *Head) Probabilities(x []float32, n int) []float32 {
	p := h.Forward(x, n)
	nn.Sigmoid(p, h.Out)
	return p
}

// tensorNames returns the model-file names of layer l: "fc.weight"/"fc.bias" for a
// linear head, "fc.{2l}.weight" for an MLP (the indices of PyTorch's
// nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)).
func (h *Head) tensorNames(l int) (w, b string) {
	if len(h.Spec.Hidden) == 0 {
		return "fc.weight", "fc.bias"
	}
	return fmt.Sprintf("fc.%d.weight", 2*l), fmt.Sprintf("fc.%d.bias", 2*l)
}

// Tensors returns the head as model-file tensors, weights in PyTorch's [out, in]
// layout (DESIGN.md §4).
func (h *Head) Tensors() map[string]*tensor.Dense {
	d := h.dims()
	out := make(map[string]*tensor.Dense, 2*len(h.W))
	for l := range h.W {
		in, o := d[l], d[l+1]
		wt := make([]float32, in*o)
		for i := 0; i < in; i++ {
			for j := 0; j < o; j++ {
				wt[j*in+i] = h.W[l][i*o+j]
			}
		}
		wn, bn := h.tensorNames(l)
		out[wn] = tensor.New(tensor.WithShape(o, in), tensor.WithBacking(wt))
		out[bn] = tensor.New(tensor.WithShape(o), tensor.WithBacking(append([]float32(nil), h.B[l]...)))
	}
	return out
}

// HeadFromTensors rebuilds a head described by spec ("linear", "mlp:…") from
// model-file tensors; in is the feature width (0: the first layer's input width).
// Missing or wrong-shaped tensors are errors naming them.
func HeadFromTensors(spec string, in int, tensors map[string]*tensor.Dense) (*Head, error) {
	hs, err := ParseHead(spec)
	if err != nil {
		return nil, err
	}
	h := &Head{Spec: hs, In: in}
	// the class count is the last layer's output width
	_, lastB := (&Head{Spec: hs}).tensorNames(len(hs.Hidden))
	bt, ok := tensors[lastB]
	if !ok {
		return nil, fmt.Errorf("train: head %s: tensor %s missing", hs, lastB)
	}
	h.Out = bt.Shape().TotalSize()
	if in <= 0 {
		w0, _ := h.tensorNames(0)
		if t, ok := tensors[w0]; ok && len(t.Shape()) == 2 {
			h.In = t.Shape()[1]
		}
	}
	d := h.dims()
	for l := 0; l+1 < len(d); l++ {
		wn, bn := h.tensorNames(l)
		wt, ok1 := tensors[wn]
		b, ok2 := tensors[bn]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("train: head %s: tensor %s or %s missing", hs, wn, bn)
		}
		if !wt.Shape().Eq(tensor.Shape{d[l+1], d[l]}) || b.Shape().TotalSize() != d[l+1] {
			return nil, fmt.Errorf("train: head %s: %s has shape %v, want [%d %d]", hs, wn, wt.Shape(), d[l+1], d[l])
		}
		wd, ok1 := wt.Data().([]float32)
		bd, ok2 := b.Data().([]float32)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("train: head %s: %s/%s are not float32", hs, wn, bn)
		}
		in, o := d[l], d[l+1]
		w := make([]float32, in*o)
		for j := 0; j < o; j++ {
			for i := 0; i < in; i++ {
				w[i*o+j] = wd[j*in+i]
			}
		}
		h.W = append(h.W, w)
		h.B = append(h.B, append([]float32(nil), bd...))
	}
	return h, nil
}
