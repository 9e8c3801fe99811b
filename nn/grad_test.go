package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestGradientsNumerically checks the symbolic gradients of the fused convolution
// (with residual and ReLU), global average pooling and the linear layer, as
// gorgonia.Grad assembles them, against central finite differences of the forward
// pass on a tiny network:
//
//	cost = Σ c ⊙ linear(GAP(ReLU(conv_s(x, W) + b + r)), W2, b2)
//
// for 3x3 and 1x1 kernels at strides 1 and 2. Central differences with step 1e-3 in
// float32; tolerance 2e-3 absolute + 2e-3 relative.
func TestGradientsNumerically(t *testing.T) {
	for _, c := range []struct {
		name           string
		k, stride, pad int
	}{
		{"3x3s1", 3, 1, 1}, {"3x3s2", 3, 2, 1}, {"1x1s2", 1, 2, 0}, {"1x1s1", 1, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) { checkGradients(t, c.k, c.stride, c.pad) })
	}
}

func checkGradients(t *testing.T, k, stride, pad int) {
	const b, cin, h, w, cout, classes = 2, 3, 5, 5, 4, 3
	ho, wo := convOutSize(h, k, stride, pad), convOutSize(w, k, stride, pad)
	rng := rand.New(rand.NewPCG(uint64(k), uint64(stride)+10)) // seeds whose pre-activations stay clear of the ReLU kink
	randn := func(shape ...int) *tensor.Dense {
		d := make([]float32, tensor.Shape(shape).TotalSize())
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		return denseOf(d, shape...)
	}
	g := gorgonia.NewGraph()
	leaf := func(name string, v *tensor.Dense) *gorgonia.Node {
		return gorgonia.NewTensor(g, tensor.Float32, v.Dims(), gorgonia.WithName(name), gorgonia.WithValue(v))
	}
	vals := map[string]*tensor.Dense{
		"x": randn(b, cin, h, w), "W": randn(cout, cin, k, k), "b": randn(cout),
		"r": randn(b, cout, ho, wo), "W2": randn(classes, cout), "b2": randn(classes),
	}
	names := []string{"x", "W", "b", "r", "W2", "b2"}
	nodes := map[string]*gorgonia.Node{}
	for _, n := range names {
		nodes[n] = leaf(n, vals[n])
	}
	y, err := Conv2d(nodes["x"], nodes["W"], nodes["b"], nodes["r"], stride, pad, true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := GlobalAvgPool(y)
	if err != nil {
		t.Fatal(err)
	}
	z, err := LinearNode(p, nodes["W2"], nodes["b2"])
	if err != nil {
		t.Fatal(err)
	}
	coef := leaf("c", randn(b, classes))
	cost := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(z, coef))))
	var wrt gorgonia.Nodes
	for _, n := range names {
		wrt = append(wrt, nodes[n])
	}
	grads, err := gorgonia.Grad(cost, wrt...)
	if err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	run := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return float64(cost.Value().Data().(float32))
	}
	run()
	symbolic := map[string][]float32{}
	for i, n := range names {
		symbolic[n] = append([]float32(nil), grads[i].Value().(*tensor.Dense).Float32s()...)
	}
	const eps = 1e-3
	for _, n := range names {
		data := vals[n].Float32s()
		for i := range data {
			orig := data[i]
			data[i] = orig + eps
			up := run()
			data[i] = orig - eps
			down := run()
			data[i] = orig
			num := (up - down) / (2 * eps)
			if got := float64(symbolic[n][i]); math.Abs(got-num) > 2e-3+2e-3*math.Abs(num) {
				t.Errorf("d cost / d %s[%d] = %.5f, numerically %.5f", n, i, got, num)
			}
		}
	}
}
