package cmd

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/testenv"
	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/weights"
)

// pbMessage splits one protobuf message into its length-delimited fields (number →
// values in order); the export tests read ONNX graphs with it.
func pbMessage(t *testing.T, b []byte) map[protowire.Number][][]byte {
	t.Helper()
	out := map[protowire.Number][][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad protobuf tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			t.Fatalf("bad protobuf field %d: %v", num, protowire.ParseError(n))
		}
		if typ == protowire.BytesType {
			out[num] = append(out[num], v)
		}
		b = b[n:]
	}
	return out
}

// writeHeadOnly caches a full tiny model as the backbone (in AUTOTAG_HOME) and writes
// a head-only file naming it by sha256, holding ts and meta; it returns the file.
func writeHeadOnly(t *testing.T, meta weights.Metadata, ts map[string]*tensor.Dense) string {
	t.Helper()
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	full, err := tinymodel.Tensors(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(weights.ModelsDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	bb := filepath.Join(weights.ModelsDir(), "tiny.safetensors")
	if err := tinymodel.Save(bb, weights.Metadata{Classes: []string{"x", "y"}, Activation: "softmax", Source: "tiny backbone"}, full); err != nil {
		t.Fatal(err)
	}
	if meta.BackboneSHA256, err = weights.FileSHA256(bb); err != nil {
		t.Fatal(err)
	}
	head := filepath.Join(t.TempDir(), "head.safetensors")
	if err := tinymodel.Save(head, meta, ts); err != nil {
		t.Fatal(err)
	}
	return head
}

// TestExportONNXHeadOnly exports a head-only model (fc.* tensors and backbone_sha256
// only): the model opener joins it with its cached backbone, so the ONNX graph holds
// the whole ResNet50 and the file's own 3-class head, scored with its sigmoid, and
// names no backbone file. Export once loaded the file alone and refused it.
func TestExportONNXHeadOnly(t *testing.T) {
	w, b := tinymodel.Linear(3, 2048, 5)
	head := writeHeadOnly(t, weights.Metadata{Classes: []string{"a", "b", "c"}, Head: "linear"},
		map[string]*tensor.Dense{"fc.weight": w, "fc.bias": b})
	out := filepath.Join(t.TempDir(), "m.onnx")
	if _, err := runCLIOutput(t, "weights", "export-onnx", head, out); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	mp := pbMessage(t, raw)
	if len(mp[7]) != 1 {
		t.Fatalf("ModelProto has %d graphs", len(mp[7]))
	}
	g := pbMessage(t, mp[7][0])
	var nodes, ops []string
	for _, nb := range g[1] {
		n := pbMessage(t, nb)
		nodes = append(nodes, string(n[3][0]))
		ops = append(ops, string(n[4][0]))
	}
	for _, want := range []string{"conv1", "layer1.0.conv1", "layer4.2.conv3", "avgpool", "fc", "sigmoid"} {
		if !slices.Contains(nodes, want) {
			t.Errorf("graph lacks node %q", want)
		}
	}
	if slices.Contains(ops, "Softmax") {
		t.Error("the head-only model's sigmoid became the backbone's softmax")
	}
	inits := map[string][]byte{}
	for _, ib := range g[5] {
		tp := pbMessage(t, ib)
		inits[string(tp[8][0])] = ib
	}
	for _, want := range []string{"conv1.weight", "layer4.2.conv3.weight", "bn1.running_var", "fc.weight", "fc.bias"} {
		if _, ok := inits[want]; !ok {
			t.Errorf("graph lacks initializer %q", want)
		}
	}
	// fc.weight holds the head file's [3, 2048], not the backbone's 2-class fc.
	var dims []uint64
	for b := inits["fc.weight"]; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		if num == 1 && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(b)
			dims, b = append(dims, v), b[m:]
			continue
		}
		b = b[protowire.ConsumeFieldValue(num, typ, b):]
	}
	if !slices.Equal(dims, []uint64{3, 2048}) {
		t.Errorf("fc.weight dims %v, want [3 2048]", dims)
	}
	for _, kv := range mp[14] {
		e := pbMessage(t, kv)
		if k := string(e[1][0]); k == "backbone_sha256" || strings.Contains(string(e[2][0]), "backbone_sha256") {
			t.Errorf("exported metadata still names a backbone file: %s", e[2][0])
		}
	}
}

// TestExportONNXHeadOnlyMLP: a head-only model whose head is an MLP resolves to its
// backbone, and then the exporter refuses it, saying that only a linear head can be
// written, and leaves no output file.
func TestExportONNXHeadOnlyMLP(t *testing.T) {
	w0, b0 := tinymodel.Linear(16, 2048, 5)
	w2, b2 := tinymodel.Linear(3, 16, 6)
	head := writeHeadOnly(t, weights.Metadata{Classes: []string{"a", "b", "c"}, Head: "mlp:16", Activation: "sigmoid"},
		map[string]*tensor.Dense{"fc.0.weight": w0, "fc.0.bias": b0, "fc.2.weight": w2, "fc.2.bias": b2})
	out := filepath.Join(t.TempDir(), "m.onnx")
	_, err := runCLIOutput(t, "weights", "export-onnx", head, out)
	if err == nil || !strings.Contains(err.Error(), "mlp:16") || !strings.Contains(err.Error(), "linear") {
		t.Errorf("export of an MLP head: %v, want a refusal naming the MLP head", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused export left %s: %v", out, err)
	}
}

// ortNodePath returns a NODE_PATH under which node loads onnxruntime-node, or skips.
func ortNodePath(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	root := testenv.RepoRoot()
	for _, p := range []string{os.Getenv("NODE_PATH"), filepath.Join(root, ".cache", "node_modules"), filepath.Join(root, "node_modules")} {
		if p == "" {
			continue
		}
		c := exec.Command("node", "-e", "require('onnxruntime-node')")
		c.Env = append(os.Environ(), "NODE_PATH="+p)
		if c.Run() == nil {
			return p
		}
	}
	t.Skip("onnxruntime-node is not installed (set NODE_PATH)")
	return ""
}

// TestExportONNXHeadOnlyMatchesTag runs a head-only model's export in ONNX Runtime
// (testdata/weights/ort_run.js) and the same model opened by package model (what tag
// runs) on one random preprocessed batch: the probabilities agree within 1e-4, BN
// folded and not. Skips without node and onnxruntime-node.
func TestExportONNXHeadOnlyMatchesTag(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a ResNet50")
	}
	nodePath := ortNodePath(t)
	w, b := tinymodel.Linear(3, 2048, 5)
	head := writeHeadOnly(t, weights.Metadata{Classes: []string{"a", "b", "c"}, Head: "linear", Activation: "sigmoid"},
		map[string]*tensor.Dense{"fc.weight": w, "fc.bias": b})
	const n, size = 2, 32
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n*3*size*size)
	raw := make([]byte, 4*len(x))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x[i]))
	}
	dir := t.TempDir()
	inPath := filepath.Join(dir, "input.f32")
	if err := os.WriteFile(inPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenFile(context.Background(), head, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.NewRunner(n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, _, err := r.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	want := m.Scores(f, n)
	if !slices.ContainsFunc(want, func(p float32) bool { return p > 0.01 && p < 0.99 }) {
		t.Fatalf("saturated probabilities %v make the comparison vacuous", want)
	}
	for _, fold := range []string{"", "--fold-bn"} {
		onnxPath := filepath.Join(dir, "m"+fold+".onnx")
		args := []string{"weights", "export-onnx", head, onnxPath}
		if fold != "" {
			args = append(args, fold)
		}
		if _, err := runCLIOutput(t, args...); err != nil {
			t.Fatal(err)
		}
		got := filepath.Join(dir, "ort.f32")
		c := exec.Command("node", filepath.Join(testenv.RepoRoot(), "testdata", "weights", "ort_run.js"), onnxPath, inPath,
			fmt.Sprint(n), "3", fmt.Sprint(size), fmt.Sprint(size), "probabilities", got)
		c.Env = append(os.Environ(), "NODE_PATH="+nodePath)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("ort_run.js: %v\n%s", err, out)
		}
		rb, err := os.ReadFile(got)
		if err != nil {
			t.Fatal(err)
		}
		if len(rb) != 4*len(want) {
			t.Fatalf("%s: ORT gave %d bytes of probabilities, want %d", fold, len(rb), 4*len(want))
		}
		maxd := 0.0
		for i := range want {
			p := math.Float32frombits(binary.LittleEndian.Uint32(rb[4*i:]))
			maxd = math.Max(maxd, math.Abs(float64(p-want[i])))
		}
		if maxd > 1e-4 {
			t.Errorf("fold=%q: max |Δprob| ORT vs tag = %g > 1e-4", fold, maxd)
		}
	}
}

// TestExportONNXActivationAsTag: a full model that names no activation scores with
// the model opener's default (sigmoid unless it is a 1000-class ImageNet model), and
// its export must end in the same function; the exporter once defaulted to softmax.
func TestExportONNXActivationAsTag(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "full.safetensors")
	if err := tinymodel.Write(path, []string{"a", "b", "c"}, ""); err != nil {
		t.Fatal(err)
	}
	m, err := model.OpenFile(context.Background(), path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "m.onnx")
	if _, err := runCLIOutput(t, "weights", "export-onnx", path, out, "--fold-bn"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	g := pbMessage(t, pbMessage(t, raw)[7][0])
	var last string
	for _, nb := range g[1] {
		last = string(pbMessage(t, nb)[4][0])
	}
	if want := map[string]string{"sigmoid": "Sigmoid", "softmax": "Softmax"}[m.Activation]; last != want {
		t.Errorf("export ends in %s, tag scores with %s", last, m.Activation)
	}
}
