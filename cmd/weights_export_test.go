package cmd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/tinymodel"
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
