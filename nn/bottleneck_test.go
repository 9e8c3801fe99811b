package nn

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn/arch"
)

// fixtureTensor is a tensor as testdata/nn/make_bottleneck.py writes it.
type fixtureTensor struct {
	Shape []int     `json:"shape"`
	Data  []float32 `json:"data"`
}

// TestBottleneckGolden runs one projection bottleneck block (stride 2, 8→4→16
// channels, batch 2, 8x8) through the Gorgonia graph of fused operators, with BN
// folded, and compares it with PyTorch's eval-mode output for both layouts
// (testdata/nn/make_bottleneck.py). Tolerance: 1e-5 absolute + 1e-5 relative.
func TestBottleneckGolden(t *testing.T) {
	for _, layout := range []Layout{KerasV1, TorchvisionV15} {
		t.Run(string(layout), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "testdata", "nn", "bottleneck_"+string(layout)+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var fx struct {
				Eps           float64                  `json:"eps"`
				Params        map[string]fixtureTensor `json:"params"`
				Input, Output fixtureTensor
			}
			if err := json.Unmarshal(raw, &fx); err != nil {
				t.Fatal(err)
			}
			spec := arch.NewBottleneck("blk", 8, 4, 2, layout)
			blk := newBottleneck(&spec, fx.Eps)
			for _, s := range blk.slots() {
				p, ok := fx.Params[strings.TrimPrefix(s.name, "blk.")]
				if !ok || !tensor.Shape(p.Shape).Eq(s.shape) {
					t.Fatalf("fixture lacks %s %v", s.name, s.shape)
				}
				*s.dst = denseOf(p.Data, p.Shape...)
			}
			if n := len(blk.slots()); n != len(fx.Params) {
				t.Fatalf("block has %d tensors, fixture %d", n, len(fx.Params))
			}
			fb, err := blk.fold(true)
			if err != nil {
				t.Fatal(err)
			}
			// the block runs in a Runner's CNHW layout: transpose the NCHW fixture
			g := gorgonia.NewGraph()
			in := fx.Input.Shape
			x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithName("x"),
				gorgonia.WithValue(denseOf(swapBatchChannel(fx.Input.Data, in), in[1], in[0], in[2], in[3])))
			y, err := (&graphBuilder{g: g, ws: newWorkspace()}).bottleneck(x, fb)
			if err != nil {
				t.Fatal(err)
			}
			os := fx.Output.Shape
			if want := (tensor.Shape{os[1], os[0], os[2], os[3]}); !y.Shape().Eq(want) {
				t.Fatalf("output shape %v, want %v (CNHW)", y.Shape(), want)
			}
			vm := gorgonia.NewTapeMachine(g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			got := swapBatchChannel(y.Value().(*tensor.Dense).Float32s(), y.Shape())
			closeTo(t, string(layout), got, fx.Output.Data)
		})
	}
}

// swapBatchChannel converts a 4-D tensor of shape (a,b,h,w) into (b,a,h,w): NCHW to
// CNHW and back.
func swapBatchChannel(x []float32, shape []int) []float32 {
	a, b, hw := shape[0], shape[1], shape[2]*shape[3]
	y := make([]float32, len(x))
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			copy(y[(j*a+i)*hw:(j*a+i+1)*hw], x[(i*b+j)*hw:(i*b+j+1)*hw])
		}
	}
	return y
}
