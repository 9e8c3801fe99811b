package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestStageMatchesRunnerOpsAndHasGradients builds layer4 as a trainable NCHW subgraph:
// it must compute what the runner's fused, packed operators compute on the same input
// (batch 1, where CNHW is NCHW), and gorgonia.Grad must reach every parameter, with a
// bias gradient that matches a central difference.
func TestStageMatchesRunnerOpsAndHasGradients(t *testing.T) {
	m := NewResNet50(Config{Layout: KerasV1, NumClasses: 3})
	if err := m.Bind(randomParams(m, 8)); err != nil {
		t.Fatal(err)
	}
	in := denseOf(randSlice(1024*4*4, rand.New(rand.NewPCG(2, 3))), 1, 1024, 4, 4)

	// reference: the runner's operators on their own graph
	g0 := gorgonia.NewGraph()
	cnhw := denseOf(in.Float32s(), 1024, 1, 4, 4) // the runner's layout: same memory at batch 1
	x0 := gorgonia.NewTensor(g0, tensor.Float32, 4, gorgonia.WithName("x"), gorgonia.WithValue(cnhw))
	gb := &graphBuilder{g: g0, ws: newWorkspace()}
	y0 := x0
	var err error
	for _, b := range m.blocks[3] {
		if y0, err = gb.bottleneck(y0, b); err != nil {
			t.Fatal(err)
		}
	}
	vm0 := gorgonia.NewTapeMachine(g0)
	defer vm0.Close()
	if err := vm0.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := y0.Value().(*tensor.Dense).Float32s()

	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithName("x"), gorgonia.WithValue(in))
	y, params, err := m.Stage(g, x, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(params) != 2*(3*3+1) {
		t.Fatalf("%d parameters, want 20", len(params))
	}
	p, err := GlobalAvgPool(y)
	if err != nil {
		t.Fatal(err)
	}
	cost := gorgonia.Must(gorgonia.Sum(p))
	var wrt gorgonia.Nodes
	for _, sp := range params {
		wrt = append(wrt, sp.Node)
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
	got := y.Value().(*tensor.Dense).Float32s()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("stage output [%d] = %g, runner operators %g", i, got[i], want[i])
		}
	}
	for i, gr := range grads {
		if gr.Value() == nil {
			t.Fatalf("no gradient for %s", params[i].Name)
		}
	}
	// d cost / d (last conv3 bias)[0], numerically
	last := len(params) - 1
	bias := params[last].Node.Value().(*tensor.Dense).Float32s()
	sym := float64(grads[last].Value().(*tensor.Dense).Float32s()[0])
	const eps = 1e-2
	orig := bias[0]
	bias[0] = orig + eps
	up := run()
	bias[0] = orig - eps
	down := run()
	bias[0] = orig
	if num := (up - down) / (2 * eps); math.Abs(num-sym) > 1e-3+1e-2*math.Abs(num) {
		t.Errorf("d cost / d %s[0] = %g, numerically %g", params[last].Name, sym, num)
	}
}

// TestTrunkRunnerFeedsStage checks the fine-tuning path end to end: layer1-3 by a
// trunk runner (batch 2, NCHW out), then layer4 by Stage and global pooling, equals the
// full runner's pooled features.
func TestTrunkRunnerFeedsStage(t *testing.T) {
	m := NewResNet50(Config{Layout: TorchvisionV15, NumClasses: 3})
	if err := m.Bind(randomParams(m, 9)); err != nil {
		t.Fatal(err)
	}
	const batch, size = 2, 64
	x := randSlice(batch*3*size*size, rand.New(rand.NewPCG(4, 5)))
	full, err := m.NewRunner(batch, size, size)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := full.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	trunk, err := m.NewTrunkRunner(batch, size, size, 3)
	if err != nil {
		t.Fatal(err)
	}
	act, logits, err := trunk.Forward(x)
	if err != nil || logits != nil || len(act) != batch*1024*4*4 {
		t.Fatalf("trunk: %d floats, logits %v, err %v", len(act), logits, err)
	}
	g := gorgonia.NewGraph()
	in := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithName("l3"),
		gorgonia.WithValue(denseOf(append([]float32(nil), act...), batch, 1024, 4, 4)))
	y, _, err := m.Stage(g, in, 4)
	if err != nil {
		t.Fatal(err)
	}
	p, err := GlobalAvgPool(y)
	if err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := p.Value().(*tensor.Dense).Float32s()
	if d := maxAbsDiff(got, want); d > 1e-4 {
		t.Errorf("trunk + Stage(4) + GAP differs from the full runner by %g", d)
	}
}
