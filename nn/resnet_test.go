package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn/gemm"
)

// randomParams is RandomParams (kept short for the tests).
func randomParams(m *ResNet50, seed uint64) map[string]*tensor.Dense { return RandomParams(m, seed) }

func TestBindStrict(t *testing.T) {
	for _, layout := range []Layout{KerasV1, TorchvisionV15} {
		m := NewResNet50(Config{Layout: layout, NumClasses: 10})
		p := randomParams(m, 1)
		delete(p, "layer3.2.bn2.running_var")
		p["layer1.0.conv1.weight"] = tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float32{1, 2}))
		p["layer9.bogus"] = tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))
		err := m.Bind(p)
		if err == nil {
			t.Fatalf("%s: Bind accepted bad params", layout)
		}
		for _, want := range []string{"layer3.2.bn2.running_var", "layer1.0.conv1.weight", "layer9.bogus"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %s", layout, err, want)
			}
		}
	}
}

func TestBadConfigIsABindError(t *testing.T) {
	for _, cfg := range []Config{{Layout: "resnet-v9"}, {NumClasses: -1}, {BNEps: -1}} {
		m := NewResNet50(cfg)
		if err := m.Bind(nil); err == nil || !strings.Contains(err.Error(), "nn:") {
			t.Errorf("%+v: Bind error %v", cfg, err)
		}
	}
}

func TestParamNames(t *testing.T) {
	k := NewResNet50(Config{Layout: KerasV1})
	tv := NewResNet50(Config{Layout: TorchvisionV15})
	// torchvision resnet50 state_dict without num_batches_tracked: 267 tensors; Keras adds
	// 53 conv biases.
	if n := len(tv.ParamNames()); n != 267 {
		t.Errorf("torchvision layout: %d tensors, want 267", n)
	}
	if n := len(k.ParamNames()); n != 267+53 {
		t.Errorf("keras layout: %d tensors, want 320", n)
	}
	if s := k.Layers[1][0].Conv1.Stride; s != 2 {
		t.Errorf("keras layer2.0.conv1 stride %d, want 2", s)
	}
	if s := tv.Layers[1][0].Conv2.Stride; s != 2 {
		t.Errorf("torchvision layer2.0.conv2 stride %d, want 2", s)
	}
}

// TestModelIsItsTopology checks that the layers Bind fills are exactly the tensors
// nn/arch lists for the same layout (which weights checks files against and the ONNX
// exporter and fine-tuner walk), in the same order and shapes.
func TestModelIsItsTopology(t *testing.T) {
	for _, layout := range []Layout{KerasV1, TorchvisionV15} {
		m := NewResNet50(Config{Layout: layout, NumClasses: 7})
		slots := m.slots()
		specs := m.Topology.Tensors()
		if len(slots) != len(specs) {
			t.Fatalf("%s: %d slots, %d tensors in the topology", layout, len(slots), len(specs))
		}
		for i, s := range specs {
			if slots[i].name != s.Name || !slots[i].shape.Eq(tensor.Shape(s.Shape)) {
				t.Errorf("%s: slot %d is %s %v, topology says %s %v", layout, i, slots[i].name, slots[i].shape, s.Name, s.Shape)
			}
		}
	}
}

func TestForwardBatchConsistent(t *testing.T) {
	defer gemm.SetThreads(0)
	gemm.SetThreads(2) // data-parallel runners need 2 threads (GOMAXPROCS may be 1)
	for _, dp := range []bool{false, true} {
		testForwardBatchConsistent(t, Engine{DisableDataParallel: !dp})
	}
}

func testForwardBatchConsistent(t *testing.T, e Engine) {
	for _, layout := range []Layout{KerasV1, TorchvisionV15} {
		m := NewResNet50(Config{Layout: layout, NumClasses: 7, Engine: e})
		if err := m.Bind(randomParams(m, 2)); err != nil {
			t.Fatal(err)
		}
		const h, w = 64, 48
		r1, err := m.NewRunner(1, h, w)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := m.NewRunner(2, h, w)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		x := make([]float32, 2*3*h*w)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		f2, l2, err := r2.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		for img := 0; img < 2; img++ {
			f1, l1, err := r1.Forward(x[img*3*h*w : (img+1)*3*h*w])
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(f1, f2[img*FeatureDim:(img+1)*FeatureDim]); d > 1e-4 {
				t.Errorf("%s image %d: features differ by %g between batch 1 and 2", layout, img, d)
			}
			if d := maxAbsDiff(l1, l2[img*7:(img+1)*7]); d > 1e-4 {
				t.Errorf("%s image %d: logits differ by %g between batch 1 and 2", layout, img, d)
			}
		}
		for _, v := range l2 {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: non-finite logit %v", layout, v)
			}
		}
		if _, _, err := r1.Forward(x); err == nil {
			t.Errorf("%s: Forward accepted a wrong-sized input", layout)
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// denseOf wraps data in a float32 tensor of the given shape.
func denseOf(data []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// TestRunnersShareWeightsConcurrently runs two runners of one model on two goroutines
// at once (the library's worker pattern) and checks both against a sequential run.
func TestRunnersShareWeightsConcurrently(t *testing.T) {
	m := NewResNet50(Config{Layout: TorchvisionV15, NumClasses: 5})
	if err := m.Bind(randomParams(m, 6)); err != nil {
		t.Fatal(err)
	}
	const h, w = 40, 40
	x := randSlice(3*h*w, rand.New(rand.NewPCG(1, 1)))
	ref, err := m.NewRunner(1, h, w)
	if err != nil {
		t.Fatal(err)
	}
	_, want, err := ref.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		r, err := m.NewRunner(1, h, w)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for j := 0; j < 3; j++ {
				_, got, err := r.Forward(x)
				if err == nil && maxAbsDiff(got, want) > 1e-5 {
					err = fmt.Errorf("concurrent runner differs by %g", maxAbsDiff(got, want))
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestFlexibleRunner checks that a data-parallel runner takes any number of images up
// to its batch, each giving what a batch-1 runner gives, and that a single-graph runner
// refuses a short batch.
func TestFlexibleRunner(t *testing.T) {
	defer gemm.SetThreads(0)
	gemm.SetThreads(2)
	m := NewResNet50(Config{Layout: KerasV1, NumClasses: 5})
	if err := m.Bind(randomParams(m, 7)); err != nil {
		t.Fatal(err)
	}
	const h, w, batch = 40, 48, 3
	img := 3 * h * w
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, batch*img)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	r1, err := m.NewRunner(1, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	var want [][]float32
	for i := range batch {
		_, l, err := r1.Forward(x[i*img : (i+1)*img])
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, slices.Clone(l))
	}
	single, err := m.WithEngine(Engine{DisableDataParallel: true}).NewRunner(batch, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if single.Flexible() {
		t.Error("a single-graph runner says it is flexible")
	}
	if _, _, err := single.Forward(x[:2*img]); err == nil {
		t.Error("a single-graph runner of batch 3 accepted 2 images")
	}
	dp, err := m.NewRunner(batch, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if !dp.Flexible() {
		t.Fatal("a data-parallel runner is not flexible")
	}
	for _, n := range []int{3, 1, 2, 3} { // shrinking and growing again
		f, l, err := dp.Forward(x[:n*img])
		if err != nil {
			t.Fatalf("%d images: %v", n, err)
		}
		if len(f) != n*FeatureDim || len(l) != n*5 {
			t.Fatalf("%d images: %d features and %d logits", n, len(f), len(l))
		}
		for i := range n {
			if d := maxAbsDiff(l[i*5:(i+1)*5], want[i]); d > 1e-4 {
				t.Errorf("%d images: image %d logits differ by %g from batch 1", n, i, d)
			}
		}
	}
	for _, bad := range [][]float32{nil, x[:img/2], x[:img+1], make([]float32, (batch+1)*img)} {
		if _, _, err := dp.Forward(bad); err == nil {
			t.Errorf("%d floats accepted", len(bad))
		}
	}
}

// TestPoolShared runs two pooled runners on one pool from two goroutines at once,
// many times, and checks every image against a batch-1 runner: batches that overlap
// on the pool's threads still get their own images' outputs.
func TestPoolShared(t *testing.T) {
	m := NewResNet50(Config{Layout: KerasV1, NumClasses: 4})
	if err := m.Bind(randomParams(m, 9)); err != nil {
		t.Fatal(err)
	}
	const h, w = 36, 36
	img := 3 * h * w
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 6*img)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	r1, err := m.newRunner(1, h, w, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	var want [][]float32
	for i := range 6 {
		_, l, err := r1.Forward(x[i*img : (i+1)*img])
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, slices.Clone(l))
	}
	p, err := m.NewPool(2, h, w)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := m.NewPooledRunner(4, p)
			defer r.Close() // leaves the shared pool open
			for k := range 5 {
				lo := (g*3 + k) % 3 // images lo … lo+n-1
				n := 1 + (g+k)%4
				_, l, err := r.Forward(x[lo*img : (lo+n)*img])
				if err != nil {
					errs <- err
					return
				}
				for i := range n {
					if d := maxAbsDiff(l[i*4:(i+1)*4], want[lo+i]); d > 1e-4 {
						errs <- fmt.Errorf("goroutine %d call %d: image %d differs by %g", g, k, lo+i, d)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p.Threads() != 2 {
		t.Errorf("Threads() = %d", p.Threads())
	}
}
