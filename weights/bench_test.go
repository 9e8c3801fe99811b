package weights

import (
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/testenv"
)

// BenchmarkLoad measures loading the imported npm ResNet50 (≈98 MB).
func BenchmarkLoad(b *testing.B) {
	p := testenv.KerasModel(b)
	for b.Loop() {
		if _, err := Load(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckFinite measures the load-time NaN/Inf scan over a ResNet50's worth
// of float32 weights (25.6 M values), to compare with BenchmarkLoad.
func BenchmarkCheckFinite(b *testing.B) {
	specs, err := ResNet50Tensors(LayoutKerasV1, 1000)
	if err != nil {
		b.Fatal(err)
	}
	ts := map[string]*tensor.Dense{}
	var n int64
	for _, s := range specs {
		size := 1
		for _, d := range s.Shape {
			size *= d
		}
		v := make([]float32, size)
		for i := range v {
			v[i] = float32(i%7) * 0.1
		}
		ts[s.Name] = tensor.New(tensor.WithShape(s.Shape...), tensor.WithBacking(v))
		n += int64(4 * size)
	}
	b.SetBytes(n)
	for b.Loop() {
		if err := checkFinite(ts); err != nil {
			b.Fatal(err)
		}
	}
}
