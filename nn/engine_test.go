package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/autotag/autotag/nn/gemm"
)

// TestEngineIsPerModel builds runners of one bound model under the default engine and
// under a view with every optimisation off, side by side: each runner follows its own
// model's Engine (Winograd operators, fused epilogue, data parallelism), the two give
// the same outputs, and a model bound with DisableWinograd keeps no Winograd weights.
func TestEngineIsPerModel(t *testing.T) {
	defer gemm.SetThreads(0)
	gemm.SetThreads(2) // data-parallel runners need 2 threads (GOMAXPROCS may be 1)
	m := NewResNet50(Config{Layout: KerasV1, NumClasses: 4})
	if err := m.Bind(randomParams(m, 8)); err != nil {
		t.Fatal(err)
	}
	off := Engine{DisableWinograd: true, DisableFusedGEMM: true, DisableDataParallel: true}
	plain := m.WithEngine(off)
	if m.Config.Engine != (Engine{}) {
		t.Fatalf("WithEngine changed the original model's engine to %+v", m.Config.Engine)
	}
	const batch, h, w = 2, 96, 96
	fast, err := m.NewRunner(batch, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	if !fast.Flexible() || m.DataParallelThreads(batch) == 0 {
		t.Error("the default engine did not build a data-parallel runner")
	}
	slow, err := plain.NewRunner(batch, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if slow.Flexible() || plain.DataParallelThreads(batch) != 0 {
		t.Error("DisableDataParallel built a data-parallel runner")
	}
	// a single graph under the default engine uses Winograd and fuses; the plain one does neither
	single, err := m.WithEngine(Engine{DisableDataParallel: true}).NewRunner(batch, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if wino, fused := engineOps(single); wino == 0 || !fused {
		t.Errorf("default engine: %d Winograd convolutions, fused %t; want some and true", wino, fused)
	}
	if wino, fused := engineOps(slow); wino != 0 || fused {
		t.Errorf("plain engine: %d Winograd convolutions, fused %t; want none and false", wino, fused)
	}
	rng := rand.New(rand.NewPCG(1, 9))
	x := randSlice(batch*3*h*w, rng)
	_, lf, err := fast.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	lf = append([]float32(nil), lf...)
	_, ls, err := slow.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(lf, ls); d > 1e-4 {
		t.Errorf("logits differ by %g between the default and the plain engine", d)
	}

	nw := NewResNet50(Config{Layout: KerasV1, NumClasses: 4, Engine: Engine{DisableWinograd: true}})
	if err := nw.Bind(randomParams(nw, 8)); err != nil {
		t.Fatal(err)
	}
	for _, layer := range nw.blocks {
		for _, b := range layer {
			if b.conv2.wino != nil {
				t.Fatalf("%s: Winograd weights kept under DisableWinograd", b.spec.Name)
			}
		}
	}
	r, err := nw.WithEngine(Engine{DisableDataParallel: true}).NewRunner(batch, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if wino, _ := engineOps(r); wino != 0 {
		t.Errorf("a model bound without Winograd weights runs %d Winograd convolutions", wino)
	}
}

// engineOps counts r's Winograd convolutions and reports whether its convolutions fuse
// the epilogue.
func engineOps(r *Runner) (wino int, fused bool) {
	for _, node := range r.g.AllNodes() {
		if op, ok := node.Op().(*convOp); ok {
			if op.wino != nil {
				wino++
			}
			fused = fused || op.ws.fused
		}
	}
	return wino, fused
}
