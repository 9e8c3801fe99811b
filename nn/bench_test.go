package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/autotag/autotag/nn/gemm"
)

// Benchmarks of the engine (issue 3): every distinct convolution shape of ResNet50 at
// 224x224 and the whole forward pass at batch 1 and 8, on random weights. Compare with
// ONNX Runtime in the same session through `autotag bench` and
// testdata/bench/ort_bench.js; GFLOP/s counts a multiply-add as 2 flops.

// convShape is one distinct convolution of ResNet50 at 224x224.
type convShape struct {
	cin, cout, k, stride, pad, h int
}

// resnetConvShapes lists the distinct convolutions of both layouts for a 224x224
// input, in network order.
func resnetConvShapes() []convShape {
	seen := map[convShape]bool{}
	var out []convShape
	for _, layout := range []Layout{KerasV1, TorchvisionV15} {
		m := NewResNet50(Config{Layout: layout})
		add := func(c *Conv2D, h int) {
			s := convShape{c.In(), c.Out(), c.Kernel, c.Stride, c.Pad, h}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
		add(m.Conv1, 224)
		h := 56
		for _, layer := range m.Layers {
			for _, b := range layer {
				add(b.Conv1, h)
				h1 := b.Conv1.OutSize(h)
				add(b.Conv2, h1)
				add(b.Conv3, b.Conv2.OutSize(h1))
				if b.Downsample != nil {
					add(b.Downsample.Conv, h)
				}
				h = b.Conv3.OutSize(b.Conv2.OutSize(h1))
			}
		}
	}
	return out
}

func randSlice(n int, rng *rand.Rand) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// BenchmarkConv runs every distinct convolution of ResNet50 at batch 1 with packed
// weights and the fused epilogue.
func BenchmarkConv(b *testing.B) { benchConv(b, true) }

// BenchmarkConvUnfused is BenchmarkConv with im2col + GEMM + a separate epilogue.
func BenchmarkConvUnfused(b *testing.B) {
	benchConv(b, false)
}

func benchConv(b *testing.B, fused bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range resnetConvShapes() {
		ho := convOutSize(s.h, s.k, s.stride, s.pad)
		name := fmt.Sprintf("%dx%d_s%d_%dto%d_%d", s.k, s.k, s.stride, s.cin, s.cout, s.h)
		b.Run(name, func(b *testing.B) {
			x := randSlice(s.cin*s.h*s.h, rng)
			w := randSlice(s.cout*s.cin*s.k*s.k, rng)
			bias := randSlice(s.cout, rng)
			y := make([]float32, s.cout*ho*ho)
			ws := newWorkspace()
			ws.fused = fused
			packed := gemm.PackA(false, s.cout, s.cin*s.k*s.k, w, s.cin*s.k*s.k)
			g := convGeom{batch: 1, c: s.cin, h: s.h, w: s.h, o: s.cout, k: s.k, s: s.stride, p: s.pad, inCNHW: true, outCNHW: true}
			flops := 2 * float64(s.cout*s.cin*s.k*s.k*ho*ho)
			convForward(g, x, w, bias, nil, y, true, ws, packed) // warm: workspace, pages
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				convForward(g, x, w, bias, nil, y, true, ws, packed)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkConvWinograd runs the stride-1 3x3 shapes through Winograd F(2x2,3x3);
// GFLOP/s counts the direct method's flops, so it compares with BenchmarkConv.
func BenchmarkConvWinograd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range resnetConvShapes() {
		if s.k != 3 || s.stride != 1 {
			continue
		}
		b.Run(fmt.Sprintf("3x3_s1_%dto%d_%d", s.cin, s.cout, s.h), func(b *testing.B) {
			x := randSlice(s.cin*s.h*s.h, rng)
			w := randSlice(s.cout*s.cin*9, rng)
			bias := randSlice(s.cout, rng)
			y := make([]float32, s.cout*s.h*s.h)
			ws := newWorkspace()
			wino := newWinogradWeights(w, s.cout, s.cin)
			g := convGeom{batch: 1, c: s.cin, h: s.h, w: s.h, o: s.cout, k: 3, s: 1, p: 1, inCNHW: true, outCNHW: true}
			flops := 2 * float64(s.cout*s.cin*9*s.h*s.h)
			winogradForward(g, x, bias, nil, y, true, ws, wino) // warm
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				winogradForward(g, x, bias, nil, y, true, ws, wino)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkForward runs the whole keras-v1 ResNet50 at 224x224; ms/image and the
// allocations of one Forward (testing.AllocsPerRun) are reported as metrics.
func BenchmarkForward(b *testing.B) {
	m := NewResNet50(Config{Layout: KerasV1})
	if err := m.Bind(randomParams(m, 1)); err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			r, err := m.NewRunner(batch, 224, 224)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			x := randSlice(batch*3*224*224, rand.New(rand.NewPCG(3, 4)))
			forward := func() {
				if _, _, err := r.Forward(x); err != nil {
					b.Fatal(err)
				}
			}
			forward() // warm: buffers are allocated on the first run
			allocs := testing.AllocsPerRun(1, forward)
			b.ResetTimer()
			for b.Loop() {
				forward()
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N*batch), "ms/image")
			b.ReportMetric(allocs, "allocs/forward")
		})
	}
}
