package weights

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"github.com/google/go-cmp/cmp"
	"gorgonia.org/tensor"
)

func dense(shape []int, vals ...float32) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
}

func fullMeta() Metadata {
	return Metadata{
		Format: FormatName, FormatVersion: FormatVersion, Arch: "resnet50", Layout: LayoutTorchvisionV15,
		BNEps: 1e-5, Preprocess: spec.Torchvision(), Classes: []string{"cat", "dog"},
		Thresholds: []float32{0.25, 0.5}, Head: "linear", Activation: "sigmoid",
		BackboneSHA256: strings.Repeat("ab", 32), Source: "test", CreatedBy: "autotag test",
		Extra: map[string]string{"note": `{"verbatim": true}`},
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := &Model{Meta: fullMeta(), Tensors: map[string]*tensor.Dense{
		"fc.weight": dense([]int{2, 3}, 1, 2, 3, 4, 5, 6),
		"fc.bias":   dense([]int{2}, -1, 0.5),
		"scalar":    tensor.New(tensor.WithShape(), tensor.WithBacking([]float32{7})),
	}}
	p := filepath.Join(t.TempDir(), "sub", "m.safetensors")
	if err := Save(p, m); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Meta, got.Meta); diff != "" {
		t.Errorf("metadata round trip (-want +got):\n%s", diff)
	}
	for name, want := range m.Tensors {
		g := got.Tensors[name]
		if g == nil || !g.Shape().Eq(want.Shape()) || !cmp.Equal(g.Data(), want.Data()) {
			t.Errorf("tensor %s: got %v, want %v", name, g, want)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	// The file is a plain safetensors file: data aligned to 8 bytes.
	b, _ := os.ReadFile(p)
	if n := binary.LittleEndian.Uint64(b); n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
}

func TestSaveRejects(t *testing.T) {
	dir := t.TempDir()
	for name, m := range map[string]*Model{
		"no tensors":       {Meta: fullMeta()},
		"int tensor":       {Tensors: map[string]*tensor.Dense{"x": tensor.New(tensor.WithShape(1), tensor.WithBacking([]int64{1}))}},
		"extra collides":   {Meta: Metadata{Extra: map[string]string{"layout": "x"}}, Tensors: map[string]*tensor.Dense{"x": dense([]int{1}, 1)}},
		"classes vs fc":    {Meta: Metadata{Classes: []string{"a"}}, Tensors: map[string]*tensor.Dense{"fc.bias": dense([]int{2}, 1, 2)}},
		"thresholds count": {Meta: Metadata{Classes: []string{"a"}, Thresholds: []float32{1, 2}}, Tensors: map[string]*tensor.Dense{"x": dense([]int{1}, 1)}},
	} {
		p := filepath.Join(dir, "x.safetensors")
		if err := Save(p, m); err == nil {
			t.Errorf("%s: Save succeeded", name)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s: file written despite the error", name)
		}
	}
}

// stFile builds a safetensors file from a raw header and data.
func stFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestLoadRejectsMalformed(t *testing.T) {
	meta := `"__metadata__":{"format":"autotag-model","format_version":"1"}`
	eight := make([]byte, 8)
	cases := map[string][]byte{
		"empty":            {},
		"short":            {1, 2, 3},
		"huge header len":  append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, '{', '}'),
		"header past end":  append([]byte{100, 0, 0, 0, 0, 0, 0, 0}, '{', '}'),
		"not json":         stFile("nope", nil),
		"json list":        stFile("[]", nil),
		"trailing":         stFile("{} {}", nil),
		"duplicate key":    stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight),
		"bad dtype":        stFile(`{`+meta+`,"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, eight),
		"negative dim":     stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight),
		"size mismatch":    stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight),
		"offset past data": stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, eight),
		"gap":              stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight),
		"overlap":          stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight),
		"trailing data":    stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight),
		"overflow shape":   stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight),
		"wrap offsets":     stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,7]}}`, eight),
		"non-string meta":  stFile(`{"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
		"not autotag":      stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
		"newer version":    stFile(`{"__metadata__":{"format":"autotag-model","format_version":"9"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
		"int tensor":       stFile(`{`+meta+`,"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, eight),
		"bad bn_eps":       stFile(`{"__metadata__":{"format":"autotag-model","format_version":"1","bn_eps":"x"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
		"bad classes":      stFile(`{"__metadata__":{"format":"autotag-model","format_version":"1","classes":"[1"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
	}
	dir := t.TempDir()
	for name, b := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(p, b, 0o644)
		if _, err := Load(p); err == nil {
			t.Errorf("%s: Load succeeded", name)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
	// The well-formed variant loads.
	p := filepath.Join(dir, "ok")
	os.WriteFile(p, stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight), 0o644)
	if _, err := Load(p); err != nil {
		t.Errorf("well-formed file: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	meta := `"__metadata__":{"format":"autotag-model","format_version":"1","classes":"[\"a\"]"}`
	f.Add(stFile(`{`+meta+`,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(stFile(`{"b":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]},"c":{"dtype":"U8","shape":[],"data_offsets":[4,5]}}`, make([]byte, 5)))
	f.Add(stFile(`{}`, nil))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "fuzz.safetensors")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(p)
		if err == nil && m.Meta.Format != FormatName {
			t.Fatalf("loaded a non-autotag file")
		}
		ReadSafetensors(p)
	})
}
