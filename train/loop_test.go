package train

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// synthFeatures makes a learnable multi-label problem: class k is present when a
// random projection of the (noisy) features exceeds a threshold.
func synthFeatures(seed uint64, n, k, dim, classes int) *Features {
	rng := rand.New(rand.NewPCG(seed, 99))
	proj := rand.New(rand.NewPCG(7, 7)) // the same concept for train and validation
	w := make([]float32, dim*classes)
	for i := range w {
		w[i] = float32(proj.NormFloat64())
	}
	f := &Features{N: n, K: k, Dim: dim, Classes: classes, X: make([]float32, n*k*dim), Y: make([]float32, n*classes)}
	base := make([]float32, dim)
	for i := 0; i < n; i++ {
		for d := range base {
			base[d] = float32(rng.NormFloat64())
		}
		for c := 0; c < classes; c++ {
			var s float32
			for d := range base {
				s += base[d] * w[d*classes+c]
			}
			if s > 1.5*float32(math.Sqrt(float64(dim)))*0.5 {
				f.Y[i*classes+c] = 1
			}
		}
		for v := 0; v < k; v++ {
			for d := range base {
				f.X[(i*k+v)*dim+d] = base[d] + float32(rng.NormFloat64()*0.1)
			}
		}
	}
	return f
}

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.LR, cfg.Patience = 15, 16, 3e-2, 0
	return cfg
}

func TestLoopLearnsAndIsReproducible(t *testing.T) {
	tr := synthFeatures(1, 100, 2, 16, 4)
	va := synthFeatures(2, 60, 1, 16, 4)
	var heads []*Head
	for _, head := range []string{"linear", "mlp:8"} {
		for run := 0; run < 2; run++ {
			cfg := smallConfig()
			cfg.Head, _ = ParseHead(head)
			l, err := NewLoop(cfg, tr, va)
			if err != nil {
				t.Fatal(err)
			}
			s, err := l.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			h := s.History
			if len(h) != cfg.Epochs {
				t.Fatalf("%s: %d history rows, want %d", head, len(h), cfg.Epochs)
			}
			if !(h[len(h)-1].TrainLoss < h[0].TrainLoss) {
				t.Errorf("%s: train loss did not fall: %+v", head, h)
			}
			if s.BestMAP < 0.65 {
				t.Errorf("%s: best val mAP %.3f, want ≥ 0.65 on a learnable problem", head, s.BestMAP)
			}
			heads = append(heads, s.Head)
		}
		a, b := heads[len(heads)-2], heads[len(heads)-1]
		for i := range a.W {
			if !slices.Equal(a.W[i], b.W[i]) || !slices.Equal(a.B[i], b.B[i]) {
				t.Errorf("%s: two runs with the same seed differ in layer %d", head, i)
			}
		}
	}
}

func TestEarlyStoppingKeepsBest(t *testing.T) {
	tr := synthFeatures(1, 60, 1, 8, 3)
	va := synthFeatures(3, 40, 1, 8, 3)
	cfg := smallConfig()
	cfg.Epochs, cfg.Patience, cfg.LR = 40, 2, 0.05
	l, err := NewLoop(cfg, tr, va)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.History) == cfg.Epochs {
		t.Skip("did not stop early on this problem")
	}
	best := math.Inf(-1)
	for _, h := range s.History {
		best = math.Max(best, h.ValMAP)
	}
	if s.BestMAP != best || s.History[s.BestEpoch-1].ValMAP != best {
		t.Errorf("best mAP %v at epoch %d, history max %v", s.BestMAP, s.BestEpoch, best)
	}
	if got, _ := MeanAP(s.Best.Probabilities(va.X, va.N), va.Y, 3); got != best {
		t.Errorf("kept weights score %v, want the best epoch's %v", got, best)
	}
}

func TestAdamWMatchesHandStep(t *testing.T) {
	// first step of AdamW with g = 0.5, lr 0.1, wd 0.01: w = 1·(1−0.001) = 0.999,
	// m̂ = g, v̂ = g², update = lr·g/(|g|+ε) ≈ 0.1 → 0.899
	a := NewAdamW([]int{1}, 0.01)
	p := [][]float32{{1}}
	a.Step(0.1, p, [][]float32{{0.5}}, []bool{true})
	if math.Abs(float64(p[0][0])-0.899) > 1e-6 {
		t.Errorf("w = %v, want 0.899", p[0][0])
	}
}

func TestCosineSchedule(t *testing.T) {
	s := CosineSchedule{Base: 1, Min: 0, Warmup: 4, Total: 14}
	for step, want := range map[int]float64{0: 0.25, 3: 1, 4: 1, 9: 0.5, 14: 0} {
		if got := s.At(step); math.Abs(got-want) > 1e-12 {
			t.Errorf("lr(%d) = %v, want %v", step, got, want)
		}
	}
}

func TestHeadTensorsRoundTrip(t *testing.T) {
	for _, spec := range []string{"linear", "mlp:5,3"} {
		hs, _ := ParseHead(spec)
		h := NewHead(hs, 6, 4, 3)
		back, err := HeadFromTensors(hs.String(), 6, h.Tensors())
		if err != nil {
			t.Fatal(err)
		}
		x := []float32{1, 2, 3, 4, 5, 6, -1, 0, 1, 0, -1, 2}
		if a, b := h.Forward(x, 2), back.Forward(x, 2); !slices.Equal(a, b) {
			t.Errorf("%s: logits differ after a round trip: %v vs %v", spec, a, b)
		}
	}
	if _, err := ParseHead("mlp:0"); err == nil {
		t.Error("want an error for mlp:0")
	}
	if _, err := HeadFromTensors("mlp:5", 6, NewHead(HeadSpec{}, 6, 4, 1).Tensors()); err == nil {
		t.Error("want an error for missing MLP tensors")
	}
}
