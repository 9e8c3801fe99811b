package weights

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/testenv"
)

// TestReadSafetensorsHFSamples reads the reference library's sample files
// (fixtures/safetensors-hf-samples: one per dtype, values arange(-3, 3) cast to it,
// metadata {"test":"a"}; see SOURCES.txt).
func TestReadSafetensorsHFSamples(t *testing.T) {
	dir := testenv.SharedData(t, "fixtures", "safetensors-hf-samples")
	want := map[string]any{
		"B": []uint8{253, 254, 255, 0, 1, 2},
		"H": []uint16{65533, 65534, 65535, 0, 1, 2},
		"I": []uint32{math.MaxUint32 - 2, math.MaxUint32 - 1, math.MaxUint32, 0, 1, 2},
		"b": []int8{-3, -2, -1, 0, 1, 2},
		"h": []int16{-3, -2, -1, 0, 1, 2},
		"i": []int32{-3, -2, -1, 0, 1, 2},
		"e": []float32{-3, -2, -1, 0, 1, 2},
		"f": []float32{-3, -2, -1, 0, 1, 2},
		"d": []float32{-3, -2, -1, 0, 1, 2},
	}
	check := func(file string, ts map[string]*tensor.Dense, meta map[string]string, names ...string) {
		if meta["test"] != "a" || len(meta) != 1 {
			t.Errorf("%s: metadata %v", file, meta)
		}
		if len(ts) != len(names) {
			t.Errorf("%s: %d tensors, want %d", file, len(ts), len(names))
		}
		for _, n := range names {
			d := ts[n]
			if d == nil || !slices.Equal([]int(d.Shape()), []int{6}) || fmt.Sprint(d.Data()) != fmt.Sprint(want[n]) ||
				fmt.Sprintf("%T", d.Data()) != fmt.Sprintf("%T", want[n]) {
				t.Errorf("%s: %s = %v, want %v", file, n, d, want[n])
			}
		}
	}
	var all []string
	for n := range want {
		all = append(all, n)
		ts, meta, err := ReadSafetensors(filepath.Join(dir, n+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		check(n, ts, meta, n)
	}
	ts, meta, err := ReadSafetensors(filepath.Join(dir, "overall.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	check("overall", ts, meta, all...)
	// A sample is not an autotag model.
	if _, err := Load(filepath.Join(dir, "f.safetensors")); err == nil || !strings.Contains(err.Error(), "autotag weights import") {
		t.Errorf("Load of a foreign file: %v", err)
	}
}

// TestReadSafetensorsCandle reads candle's example files (fixtures/candle); sums
// computed with PyTorch from the same bytes.
func TestReadSafetensorsCandle(t *testing.T) {
	dir := testenv.SharedData(t, "fixtures", "candle")
	for _, c := range []struct {
		file, name string
		shape      []int
		sum        int64
		first      []int64
	}{
		{"jfk-codes.safetensors", "codes", []int{1, 2, 828}, 960640, []int64{865, 62, 408, 408, 475}},
		{"voices.safetensors", "tokens", []int{1, 982, 33}, 25768678, []int64{0, 0, 0, 0, 0}},
		{"voices.safetensors", "mask", []int{1, 982, 33}, 24294, []int64{0, 0, 0, 0, 0}},
	} {
		ts, _, err := ReadSafetensors(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		d := ts[c.name]
		if d == nil || !slices.Equal([]int(d.Shape()), c.shape) {
			t.Fatalf("%s %s: %v", c.file, c.name, d)
		}
		var vals []int64
		switch v := d.Data().(type) {
		case []int64:
			vals = v
		case []uint8:
			for _, x := range v {
				vals = append(vals, int64(x))
			}
		}
		var s int64
		for _, x := range vals {
			s += x
		}
		if s != c.sum || !slices.Equal(vals[:5], c.first) {
			t.Errorf("%s %s: sum %d first %v, want %d %v", c.file, c.name, s, vals[:5], c.sum, c.first)
		}
	}
}

// rawTensor is one tensor for writeRawSafetensors.
type rawTensor struct {
	name, dtype string
	shape       []int
	data        []byte
}

// writeRawSafetensors writes a safetensors file of arbitrary dtypes, tensors in
// the order given, the way Hugging Face's library lays it out.
func writeRawSafetensors(t *testing.T, path string, meta map[string]string, ts []rawTensor) {
	t.Helper()
	hdr := map[string]any{}
	if meta != nil {
		hdr["__metadata__"] = meta
	}
	var off int
	var body []byte
	for _, r := range ts {
		hdr[r.name] = map[string]any{"dtype": r.dtype, "shape": r.shape, "data_offsets": []int{off, off + len(r.data)}}
		off += len(r.data)
		body = append(body, r.data...)
	}
	h, _ := json.Marshal(hdr)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), body...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImportTimmSafetensors imports a synthetic timm-style resnet50 safetensors
// file (torchvision names, BF16 weights, num_batches_tracked as I64, metadata
// {"format":"pt"} as timm's push_to_hub writes) with a 10-class head.
func TestImportTimmSafetensors(t *testing.T) {
	specs, _ := ResNet50Tensors(LayoutTorchvisionV15, 10)
	var ts []rawTensor
	for i, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		b := make([]byte, 2*n)
		for j := range n {
			// bf16 of (i+1) * 2^-7 * (j%3 - 1)
			f := float32(i+1) / 128 * float32(j%3-1)
			binary.LittleEndian.PutUint16(b[2*j:], uint16(math.Float32bits(f)>>16))
		}
		ts = append(ts, rawTensor{s.Name, "BF16", s.Shape, b})
		if strings.HasSuffix(s.Name, "running_var") {
			ts = append(ts, rawTensor{strings.TrimSuffix(s.Name, "running_var") + "num_batches_tracked", "I64", []int{}, make([]byte, 8)})
		}
	}
	p := filepath.Join(t.TempDir(), "model.safetensors")
	writeRawSafetensors(t, p, map[string]string{"format": "pt"}, ts)
	if k, err := DetectSource(p); err != nil || k != SourceSafetensors {
		t.Fatalf("DetectSource = %q, %v", k, err)
	}
	m, err := ImportFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta.Layout != LayoutTorchvisionV15 || len(m.Meta.Classes) != 10 || m.Meta.Preprocess != spec.Torchvision() || m.Meta.Source != "model.safetensors" {
		t.Errorf("metadata %+v", m.Meta)
	}
	bf16 := func(f float32) float32 { return math.Float32frombits(math.Float32bits(f) >> 16 << 16) }
	if got := m.Tensors["fc.bias"].Data().([]float32); got[0] != bf16(-float32(len(specs))/128) || got[1] != 0 {
		t.Errorf("fc.bias = %v", got[:3])
	}
	// Re-importing autotag's own file keeps it as it is.
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	cached, err := Import(context.Background(), p, ImportOptions{Name: "timm"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := ImportFile(context.Background(), cached.Path)
	if err != nil || again.Meta.Source != "model.safetensors" {
		t.Errorf("re-import: %v %+v", err, again.Meta)
	}
}

// TestHuggingFaceNames renames every tensor of a transformers ResNet50
// (microsoft/resnet-50 naming) to torchvision's and back-checks the full set.
func TestHuggingFaceNames(t *testing.T) {
	for hf, tv := range map[string]string{
		"resnet.embedder.embedder.convolution.weight":                                "conv1.weight",
		"resnet.embedder.embedder.normalization.running_var":                         "bn1.running_var",
		"resnet.encoder.stages.0.layers.0.shortcut.convolution.weight":               "layer1.0.downsample.0.weight",
		"resnet.encoder.stages.3.layers.0.shortcut.normalization.bias":               "layer4.0.downsample.1.bias",
		"resnet.encoder.stages.2.layers.5.layer.1.convolution.weight":                "layer3.5.conv2.weight",
		"resnet.encoder.stages.1.layers.3.layer.2.normalization.running_mean":        "layer2.3.bn3.running_mean",
		"resnet.encoder.stages.1.layers.3.layer.2.normalization.num_batches_tracked": "layer2.3.bn3.num_batches_tracked",
		"classifier.1.weight": "fc.weight",
	} {
		if got, ok := hfToTorchvision(hf); !ok || got != tv {
			t.Errorf("%s → %q, %v; want %s", hf, got, ok, tv)
		}
	}
	for _, bad := range []string{"resnet.embedder.pooler.x", "classifier.0.weight", "resnet.encoder.stages.0.layers.0.layer.0.activation.x"} {
		if got, ok := hfToTorchvision(bad); ok {
			t.Errorf("%s mapped to %s", bad, got)
		}
	}
	// A whole model written with transformers names imports as torchvision-v1.5.
	specs, _ := ResNet50Tensors(LayoutTorchvisionV15, 1000)
	inverse := map[string]string{}
	for s := range 4 {
		for b := range len(kerasStages[s].Blocks) {
			for i := range 3 {
				for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
					inverse[fmt.Sprintf("layer%d.%d.bn%d.%s", s+1, b, i+1, p)] = fmt.Sprintf("resnet.encoder.stages.%d.layers.%d.layer.%d.normalization.%s", s, b, i, p)
					inverse[fmt.Sprintf("layer%d.%d.downsample.1.%s", s+1, b, p)] = fmt.Sprintf("resnet.encoder.stages.%d.layers.%d.shortcut.normalization.%s", s, b, p)
				}
				inverse[fmt.Sprintf("layer%d.%d.conv%d.weight", s+1, b, i+1)] = fmt.Sprintf("resnet.encoder.stages.%d.layers.%d.layer.%d.convolution.weight", s, b, i)
			}
			inverse[fmt.Sprintf("layer%d.%d.downsample.0.weight", s+1, b)] = fmt.Sprintf("resnet.encoder.stages.%d.layers.%d.shortcut.convolution.weight", s, b)
		}
	}
	for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
		inverse["bn1."+p] = "resnet.embedder.embedder.normalization." + p
	}
	inverse["conv1.weight"] = "resnet.embedder.embedder.convolution.weight"
	inverse["fc.weight"], inverse["fc.bias"] = "classifier.1.weight", "classifier.1.bias"
	ts := map[string]*tensor.Dense{}
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		hf, ok := inverse[s.Name]
		if !ok {
			t.Fatalf("no transformers name for %s", s.Name)
		}
		ts[hf] = tensor.New(tensor.WithShape(s.Shape...), tensor.WithBacking(make([]float32, n)))
	}
	m, err := stateDictToModel(ts, importOptions{Source: "hf"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta.Layout != LayoutTorchvisionV15 || len(m.Tensors) != len(specs) {
		t.Errorf("layout %s, %d tensors", m.Meta.Layout, len(m.Tensors))
	}
}
