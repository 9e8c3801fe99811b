package weights

import (
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"google.golang.org/protobuf/encoding/protowire"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/testenv"
)

// randomResNet50 builds a ResNet50 with He-initialised convs and plausible BN
// statistics, so activations stay in range through 16 blocks.
func randomResNet50(t testing.TB, layout string, classes int, seed int64) *Model {
	t.Helper()
	specs, err := ResNet50Tensors(layout, classes)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	ts := map[string]*tensor.Dense{}
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		fill := func(f func() float64) {
			for i := range v {
				v[i] = float32(f())
			}
		}
		switch {
		case len(s.Shape) == 4:
			std := math.Sqrt(2 / float64(n/s.Shape[0]))
			fill(func() float64 { return rng.NormFloat64() * std })
		case strings.HasSuffix(s.Name, "running_var"):
			fill(func() float64 { return 0.5 + rng.Float64() })
		case strings.HasSuffix(s.Name, "running_mean"), strings.HasSuffix(s.Name, ".bias"):
			fill(func() float64 { return 0.1 * rng.NormFloat64() })
		case s.Name == "fc.weight":
			fill(func() float64 { return 0.2 * rng.NormFloat64() })
		case strings.HasSuffix(s.Name, "bn3.weight"), strings.HasSuffix(s.Name, "downsample.1.weight"):
			// Small gammas at the end of each residual branch keep the activations
			// from growing block after block (cf. Goyal et al. 2017, zero-init γ).
			fill(func() float64 { return 0.2 + 0.02*rng.NormFloat64() })
		default: // BN gamma
			fill(func() float64 { return 1 + 0.1*rng.NormFloat64() })
		}
		ts[s.Name] = tensor.New(tensor.WithShape(s.Shape...), tensor.WithBacking(v))
	}
	classNames := make([]string, classes)
	for i := range classNames {
		classNames[i] = fmt.Sprintf("c%d", i)
	}
	meta := Metadata{Format: FormatName, FormatVersion: FormatVersion, Arch: "resnet50", Layout: layout,
		BNEps: 1e-5, Preprocess: spec.Torchvision(), Classes: classNames, Activation: "softmax", Source: "random"}
	if layout == LayoutKerasV1 {
		meta.BNEps, meta.Preprocess = 1e-3, spec.Caffe()
	}
	return &Model{Meta: meta, Tensors: ts}
}

// pbFields splits a protobuf message into (field number → list of raw values):
// varints as uint64, length-delimited as []byte, fixed32 as uint32.
func pbFields(t *testing.T, b []byte) map[protowire.Number][]any {
	t.Helper()
	out := map[protowire.Number][]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.Fixed32Type:
			v, n = protowire.ConsumeFixed32(b)
		default:
			t.Fatalf("unexpected wire type %v", typ)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		out[num] = append(out[num], v)
		b = b[n:]
	}
	return out
}

func pbString(f map[protowire.Number][]any, num protowire.Number) string {
	if v := f[num]; len(v) > 0 {
		return string(v[0].([]byte))
	}
	return ""
}

func pbStrings(f map[protowire.Number][]any, num protowire.Number) []string {
	var out []string
	for _, v := range f[num] {
		out = append(out, string(v.([]byte)))
	}
	return out
}

// TestExportONNXStructure decodes the exported ModelProto field by field (ONNX
// field numbers, onnx.proto3) and checks the opset, the node mix of each layout
// and folding choice, that the graph is topologically ordered with every input
// defined, and that each initializer's dims and raw data match the model.
func TestExportONNXStructure(t *testing.T) {
	for _, c := range []struct {
		layout     string
		fold       bool
		bn, hasB   int
		activation string
	}{
		{LayoutTorchvisionV15, false, 53, 0, "softmax"},
		{LayoutKerasV1, false, 53, 53, "sigmoid"},
		{LayoutTorchvisionV15, true, 0, 53, "softmax"},
	} {
		t.Run(fmt.Sprintf("%s-fold=%v", c.layout, c.fold), func(t *testing.T) {
			m := randomResNet50(t, c.layout, 3, 1)
			m.Meta.Activation = c.activation
			b, err := EncodeONNX(m, ONNXOptions{FoldBN: c.fold})
			if err != nil {
				t.Fatal(err)
			}
			model := pbFields(t, b)
			if model[1][0].(uint64) != onnxIRVersion {
				t.Errorf("ir_version %v", model[1])
			}
			opset := pbFields(t, model[8][0].([]byte))
			if pbString(opset, 1) != "" || opset[2][0].(uint64) != 13 {
				t.Errorf("opset %v", opset)
			}
			props := map[string]string{}
			for _, p := range model[14] {
				kv := pbFields(t, p.([]byte))
				props[pbString(kv, 1)] = pbString(kv, 2)
			}
			if props["layout"] != c.layout || props["format"] != FormatName {
				t.Errorf("metadata_props %v", props)
			}
			graph := pbFields(t, model[7][0].([]byte))
			defined := map[string]bool{"input": true}
			inits := map[string][]int64{}
			for _, raw := range graph[5] {
				tp := pbFields(t, raw.([]byte))
				name := pbString(tp, 8)
				var dims []int64
				n := int64(1)
				for _, d := range tp[1] {
					dims = append(dims, int64(d.(uint64)))
					n *= int64(d.(uint64))
				}
				if tp[2][0].(uint64) != onnxFloat || int64(len(tp[9][0].([]byte))) != 4*n {
					t.Errorf("initializer %s: type %v, %d raw bytes for dims %v", name, tp[2], len(tp[9][0].([]byte)), dims)
				}
				if defined[name] {
					t.Errorf("initializer %s twice", name)
				}
				defined[name], inits[name] = true, dims
			}
			ops := map[string]int{}
			for _, raw := range graph[1] {
				node := pbFields(t, raw.([]byte))
				ops[pbString(node, 4)]++
				for _, in := range pbStrings(node, 1) {
					if !defined[in] {
						t.Fatalf("node %s reads %s before it is defined", pbString(node, 3), in)
					}
				}
				for _, out := range pbStrings(node, 2) {
					defined[out] = true
				}
			}
			want := map[string]int{"Conv": 53, "Relu": 49, "MaxPool": 1, "Add": 16, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1}
			if c.bn > 0 {
				want["BatchNormalization"] = c.bn
			}
			want[map[string]string{"softmax": "Softmax", "sigmoid": "Sigmoid"}[c.activation]] = 1
			if fmt.Sprint(ops) != fmt.Sprint(want) {
				t.Errorf("ops %v, want %v", ops, want)
			}
			biases := 0
			for name := range inits {
				if strings.HasSuffix(name, ".bias") && !strings.Contains(name, "bn") && !strings.Contains(name, "downsample.1") && name != "fc.bias" {
					biases++
				}
			}
			if biases != c.hasB {
				t.Errorf("%d conv biases, want %d", biases, c.hasB)
			}
			if !slices.Equal(inits["fc.weight"], []int64{3, 2048}) || !slices.Equal(inits["layer3.0.conv2.weight"], []int64{256, 256, 3, 3}) {
				t.Errorf("fc.weight %v, layer3.0.conv2.weight %v", inits["fc.weight"], inits["layer3.0.conv2.weight"])
			}
			in := pbFields(t, graph[11][0].([]byte))
			if pbString(in, 1) != "input" {
				t.Errorf("graph input %q", pbString(in, 1))
			}
			outs := []string{}
			for _, o := range graph[12] {
				outs = append(outs, pbString(pbFields(t, o.([]byte)), 1))
				if !defined[outs[len(outs)-1]] {
					t.Errorf("output %s never produced", outs[len(outs)-1])
				}
			}
			if !slices.Equal(outs, []string{"logits", "probabilities"}) {
				t.Errorf("outputs %v", outs)
			}
		})
	}
}

// TestExportONNXFoldRejectsBadVariance: folding a batch norm whose running_var + eps
// is not positive is an error naming it, not NaN weights in the exported file.
func TestExportONNXFoldRejectsBadVariance(t *testing.T) {
	m := randomResNet50(t, LayoutTorchvisionV15, 3, 2)
	m.Tensors["layer3.2.bn2.running_var"].Float32s()[7] = -1
	if _, err := EncodeONNX(m, ONNXOptions{FoldBN: true}); err == nil || !strings.Contains(err.Error(), "layer3.2.bn2") {
		t.Errorf("EncodeONNX with running_var -1: error %v, want one naming layer3.2.bn2", err)
	}
	// unfolded, the statistics travel as they are and ONNX Runtime judges them
	if _, err := EncodeONNX(m, ONNXOptions{}); err != nil {
		t.Errorf("EncodeONNX without folding: %v", err)
	}
}

// ortAvailable returns a NODE_PATH under which `node` can load onnxruntime-node,
// or skips t.
func ortAvailable(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	root := testenv.RepoRoot()
	for _, p := range []string{os.Getenv("NODE_PATH"), filepath.Join(root, ".cache", "node_modules"),
		filepath.Join(root, "node_modules"), filepath.Join(root, "..", "cache", "node_modules")} {
		if p == "" {
			continue
		}
		cmd := exec.Command("node", "-e", "require('onnxruntime-node')")
		cmd.Env = append(os.Environ(), "NODE_PATH="+p)
		if cmd.Run() == nil {
			return p
		}
	}
	t.Skip("onnxruntime-node is not installed (ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node; set NODE_PATH)")
	return ""
}

func readF32(t *testing.T, p string) []float32 {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// TestExportONNXMatchesTorch runs exported models in ONNX Runtime
// (testdata/weights/ort_run.js) and the same file in a PyTorch reference forward
// (testdata/weights/torch_resnet50.py) on the same preprocessed batch of 2:
// probabilities agree within 1e-4, for both layouts, BN folded and not. The
// pretrained npm model is used when imported; a random torchvision-layout model
// always. Skips without node + onnxruntime-node or python3 + torch.
func TestExportONNXMatchesTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("full ResNet50 runs skipped in -short mode")
	}
	nodePath := ortAvailable(t)
	if exec.Command("/usr/bin/python3", "-c", "import torch").Run() != nil {
		t.Skip("/usr/bin/python3 with torch is not available")
	}
	dir := t.TempDir()
	models := map[string]string{}
	rnd := filepath.Join(dir, "torchvision.safetensors")
	if err := Save(rnd, randomResNet50(t, LayoutTorchvisionV15, 10, 7)); err != nil {
		t.Fatal(err)
	}
	models["torchvision-random"] = rnd
	if p := os.Getenv("AUTOTAG_TEST_MODEL"); p != "" {
		models["keras-npm"] = p
	} else if p := filepath.Join(testenv.RepoRoot(), ".cache", "home", "models", "resnet50-keras.safetensors"); fileExists(p) {
		models["keras-npm"] = p
	}
	const n, h, w = 2, 224, 224
	rng := rand.New(rand.NewSource(3))
	in := make([]byte, 4*n*3*h*w)
	for i := 0; i < len(in); i += 4 {
		binary.LittleEndian.PutUint32(in[i:], math.Float32bits(float32(rng.NormFloat64())))
	}
	inPath := filepath.Join(dir, "input.f32")
	os.WriteFile(inPath, in, 0o644)
	dims := []string{fmt.Sprint(n), "3", fmt.Sprint(h), fmt.Sprint(w)}
	for name, p := range models {
		m, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Meta.Layout == LayoutKerasV1 {
			// Caffe-preprocessed inputs span roughly ±128.
			for i := 0; i < len(in); i += 4 {
				binary.LittleEndian.PutUint32(in[i:], math.Float32bits(float32(rng.NormFloat64()*60)))
			}
			os.WriteFile(inPath, in, 0o644)
		}
		ref := filepath.Join(dir, name+".torch.f32")
		script := filepath.Join(testenv.RepoRoot(), "testdata", "weights", "torch_resnet50.py")
		if out, err := exec.Command("/usr/bin/python3", append(append([]string{script, p, inPath}, dims...), ref)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		want := readF32(t, ref)
		top := slices.Max(want)
		t.Logf("%s: top probability %.3g", name, top)
		if top > 0.999 {
			t.Errorf("%s: saturated softmax (top %g) makes the comparison vacuous", name, top)
		}
		for _, fold := range []bool{false, true} {
			onnxPath := filepath.Join(dir, fmt.Sprintf("%s-%v.onnx", name, fold))
			if err := ExportONNX(onnxPath, m, ONNXOptions{FoldBN: fold}); err != nil {
				t.Fatal(err)
			}
			got := filepath.Join(dir, "ort.f32")
			cmd := exec.Command("node", append(append([]string{filepath.Join(testenv.RepoRoot(), "testdata", "weights", "ort_run.js"), onnxPath, inPath}, dims...), "probabilities", got)...)
			cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ort_run.js: %v\n%s", err, out)
			}
			probs := readF32(t, got)
			if len(probs) != len(want) {
				t.Fatalf("%s fold=%v: %d probabilities, want %d", name, fold, len(probs), len(want))
			}
			maxd := 0.0
			for i := range probs {
				maxd = math.Max(maxd, math.Abs(float64(probs[i]-want[i])))
			}
			t.Logf("%s fold=%v: max |Δprob| ORT vs PyTorch = %.2g", name, fold, maxd)
			if maxd > 1e-4 {
				t.Errorf("%s fold=%v: max |Δprob| = %g > 1e-4", name, fold, maxd)
			}
		}
		os.Remove(filepath.Join(dir, name+"-false.onnx"))
		os.Remove(filepath.Join(dir, name+"-true.onnx"))
	}
}

// TestKerasONNXClassifiesPhotos checks the whole import chain on real photos,
// independently of nn: the imported npm model, exported to ONNX with BN folded,
// run by ONNX Runtime on ../shared/data/darknet-photos preprocessed by data with
// the model's own spec, puts a dog breed (ImageNet classes 151-268) first for
// dog.jpg and bald_eagle first for eagle.jpg.
func TestKerasONNXClassifiesPhotos(t *testing.T) {
	model := testenv.KerasModel(t)
	dir := testenv.SharedData(t, "darknet-photos")
	nodePath := ortAvailable(t)
	m, err := Load(model)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"dog.jpg", "eagle.jpg"}
	var imgs []image.Image
	for _, n := range names {
		img, err := data.DecodeFile(filepath.Join(dir, n), data.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	x, err := data.PreprocessBatch(imgs, m.Meta.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	in := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(in[4*i:], math.Float32bits(v))
	}
	inPath, onnxPath, outPath := filepath.Join(tmp, "in.f32"), filepath.Join(tmp, "m.onnx"), filepath.Join(tmp, "out.f32")
	os.WriteFile(inPath, in, 0o644)
	if err := ExportONNX(onnxPath, m, ONNXOptions{FoldBN: true}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(testenv.RepoRoot(), "testdata", "weights", "ort_run.js"), onnxPath, inPath,
		fmt.Sprint(len(names)), "3", "224", "224", "probabilities", outPath)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ort_run.js: %v\n%s", err, out)
	}
	p := readF32(t, outPath)
	top := func(i int) int {
		row := p[i*1000 : (i+1)*1000]
		return slices.Index(row, slices.Max(row))
	}
	if c := top(0); c < 151 || c > 268 {
		t.Errorf("dog.jpg: top class %d %q is not a dog breed", c, m.Meta.Classes[c])
	}
	if c := top(1); m.Meta.Classes[c] != "bald_eagle" {
		t.Errorf("eagle.jpg: top class %d %q, want bald_eagle", c, m.Meta.Classes[c])
	}
	t.Logf("dog.jpg → %s, eagle.jpg → %s", m.Meta.Classes[top(0)], m.Meta.Classes[top(1)])
}
