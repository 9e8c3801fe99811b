package train

import (
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/testenv"
	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/nn/arch"
	"github.com/autotag/autotag/weights"
)

// TestFoldedGraphMatchesRunner: the trunk + layer4 built here from nn's exported
// operators and our own BN folding must give the same pooled features as nn's
// inference Runner on a real photo.
func TestFoldedGraphMatchesRunner(t *testing.T) {
	model := testenv.KerasModel(t)
	img, err := data.DecodeFile(filepath.Join(testenv.SharedData(t, "darknet-photos"), "dog.jpg"), data.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bb, err := OpenBackbone(model, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer bb.Close()
	spec := bb.Meta.Preprocess
	x := make([]float32, 3*spec.Crop*spec.Crop)
	if err := data.Preprocess(img, spec, x); err != nil {
		t.Fatal(err)
	}
	want, err := bb.forward(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	r, err := foldResNet(m.Tensors, m.Meta.Layout, m.Meta.BNEps)
	if err != nil {
		t.Fatal(err)
	}
	g := gorgonia.NewGraph()
	xn := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(1, 3, spec.Crop, spec.Crop), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(1, 3, spec.Crop, spec.Crop), tensor.WithBacking(x))))
	l3, err := trunkNode(g, xn, r)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := layer4Node(g, l3, r)
	if err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := f.Value().Data().([]float32)
	var maxDiff, maxVal float64
	for i := range want {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
		maxVal = math.Max(maxVal, math.Abs(float64(want[i])))
	}
	if maxDiff > 1e-3*maxVal {
		t.Fatalf("pooled features differ from the Runner's by %g (max |feature| %g)", maxDiff, maxVal)
	}
	t.Logf("max difference %g of max %g", maxDiff, maxVal)
}

// TestLayer4GradientsNumerically: gradients through a small bottleneck (nn's conv
// operators, strided 1x1 first as in keras-v1, with a downsample) and the head match
// central finite differences of the loss.
func TestLayer4GradientsNumerically(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	blk := arch.NewBottleneck("b", 4, 3, 2, arch.KerasV1) // 4 → 3 → 12 channels, projection
	r := &foldedResNet{top: &arch.ResNet{Stages: []arch.Stage{{Name: "layer4", Out: 12, Blocks: []arch.Block{blk}}}},
		convs: map[string]*foldedParam{}}
	for _, c := range r.top.Stages[0].Blocks[0].Convs() {
		p := &foldedParam{spec: c, w: make([]float32, c.Out*c.In*c.Kernel*c.Kernel), b: make([]float32, c.Out)}
		for i := range p.w {
			p.w[i] = float32(rng.NormFloat64() * 0.5)
		}
		for i := range p.b {
			p.b[i] = float32(rng.NormFloat64() * 0.1)
		}
		r.convs[c.Name] = p
	}
	h := NewHead(HeadSpec{}, 12, 3, 1)
	loss, _ := NewLoss("wbce")
	shape := []int{4, 6, 6}
	g, err := newLayer4Graph(r, h, loss, 2, shape, true)
	if err != nil {
		t.Fatal(err)
	}
	defer g.vm.Close()
	x := g.xT.Data().([]float32)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []float32{1, 0, 1, 0, 1, 0}
	loss.Coefficients(y, []float32{2, 1, 3}, 3, g.posT.Data().([]float32), g.negT.Data().([]float32))
	_, grads, err := g.run()
	if err != nil {
		t.Fatal(err)
	}
	grads = snapshot(grads)
	params, _ := layer4Params(r, h)
	value := func() float64 {
		l, _, err := g.run()
		if err != nil {
			t.Fatal(err)
		}
		return float64(l)
	}
	checked := 0
	for pi, p := range params {
		for _, i := range []int{0, len(p) / 2, len(p) - 1} {
			orig := p[i]
			const eps = 1e-2
			p[i] = orig + eps
			lp := value()
			p[i] = orig - eps
			lm := value()
			p[i] = orig
			num := (lp - lm) / (2 * eps)
			got := float64(grads[pi][i])
			if math.Abs(got-num) > 2e-3+3e-2*math.Abs(num) {
				t.Errorf("param %d[%d]: gradient %.6f, numeric %.6f", pi, i, got, num)
			}
			checked++
		}
	}
	t.Logf("%d gradient entries checked", checked)
}

// TestLayer4TensorsRoundTrip: a fine-tuned folded layer4 written back as model
// tensors (BN as identity) folds again to the same weights, in both layouts.
func TestLayer4TensorsRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a full random ResNet50")
	}
	for _, layout := range []nn.Layout{nn.KerasV1, nn.TorchvisionV15} {
		m := nn.NewResNet50(nn.Config{Layout: layout})
		ts := nn.RandomParams(m, 1)
		eps := layout.DefaultBNEps()
		r, err := foldResNet(ts, string(layout), eps)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range r.last().Blocks {
			r.convs[blk.Conv2.Name].w[0] += 0.5 // "training" changed it
			r.convs[blk.Conv3.Name].b[1] -= 0.25
		}
		for name, v := range layer4Tensors(r, ts, eps) {
			if _, ok := ts[name]; !ok {
				t.Fatalf("%s: %s is not a model tensor", layout, name)
			}
			ts[name] = v
		}
		r2, err := foldResNet(ts, string(layout), eps)
		if err != nil {
			t.Fatal(err)
		}
		for _, blk := range r.last().Blocks {
			for _, c := range blk.Convs() {
				pair := [2]*foldedParam{r.convs[c.Name], r2.convs[c.Name]}
				for j := range pair[0].w {
					if d := math.Abs(float64(pair[0].w[j] - pair[1].w[j])); d > 1e-5*(1+math.Abs(float64(pair[0].w[j]))) {
						t.Fatalf("%s %s weight %d: %v vs %v", layout, pair[0].spec.Name, j, pair[0].w[j], pair[1].w[j])
					}
				}
				for j := range pair[0].b {
					if d := math.Abs(float64(pair[0].b[j] - pair[1].b[j])); d > 1e-5*(1+math.Abs(float64(pair[0].b[j]))) {
						t.Fatalf("%s %s bias %d: %v vs %v", layout, pair[0].spec.Name, j, pair[0].b[j], pair[1].b[j])
					}
				}
			}
		}
	}
}

// TestFoldResNetRejectsBadTensors: a backbone tensor of the wrong shape or a batch
// norm whose running_var + eps is not positive is an error naming it, not a panic or
// NaN weights that train silently.
func TestFoldResNetRejectsBadTensors(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a full random ResNet50")
	}
	m := nn.NewResNet50(nn.Config{Layout: nn.TorchvisionV15})
	good := nn.RandomParams(m, 2)
	for _, c := range []struct {
		name   string
		tensor *tensor.Dense
		want   string
	}{
		{"layer4.0.conv2.weight", tensor.New(tensor.WithShape(512, 512, 1, 1), tensor.WithBacking(make([]float32, 512*512))), "layer4.0.conv2.weight"},
		{"layer3.1.bn2.running_mean", tensor.New(tensor.WithShape(255), tensor.WithBacking(make([]float32, 255))), "layer3.1.bn2.running_mean"},
		{"layer2.1.bn1.running_var", tensor.New(tensor.WithShape(128), tensor.WithBacking(slices.Repeat([]float32{-2}, 128))), "layer2.1.conv1"},
		{"bn1.running_var", tensor.New(tensor.WithShape(64), tensor.WithBacking(slices.Repeat([]float32{float32(math.NaN())}, 64))), "conv1"},
		{"layer1.0.bn3.weight", tensor.New(tensor.WithShape(256), tensor.WithBacking(make([]float64, 256))), "layer1.0.bn3.weight"},
	} {
		ts := maps.Clone(good)
		ts[c.name] = c.tensor
		_, err := foldResNet(ts, string(nn.TorchvisionV15), 1e-5)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bad %s: error %v, want one naming %s", c.name, err, c.want)
		}
	}
}
