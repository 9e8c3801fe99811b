package nn

import (
	"math"
	"math/rand/v2"
	"strings"

	"gorgonia.org/tensor"
)

// RandomParams returns a full set of tensors for m, deterministic in seed: convolution
// and fc weights He-initialised (He et al. 2015, "Delving Deep into Rectifiers",
// N(0, 2/fan_in)), biases and running means small, BN scales and running variances
// near 1. It serves benchmarks and tests that need a bindable model without weights.
func RandomParams(m *ResNet50, seed uint64) map[string]*tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	params := map[string]*tensor.Dense{}
	for _, s := range m.slots() {
		n := s.shape.TotalSize()
		data := make([]float32, n)
		switch {
		case strings.HasSuffix(s.name, "running_var"):
			for i := range data {
				data[i] = 0.5 + rng.Float32()
			}
		case strings.HasSuffix(s.name, "running_mean"), strings.HasSuffix(s.name, ".bias"):
			for i := range data {
				data[i] = 0.1 * float32(rng.NormFloat64())
			}
		case len(s.shape) == 1: // batch-norm scale
			for i := range data {
				data[i] = 0.5 + 0.5*rng.Float32()
			}
		default:
			std := math.Sqrt(2 / float64(n/s.shape[0]))
			for i := range data {
				data[i] = float32(std * rng.NormFloat64())
			}
		}
		params[s.name] = tensor.New(tensor.WithShape(s.shape...), tensor.WithBacking(data))
	}
	return params
}
