package weights

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"gorgonia.org/tensor"
)

// The native format must be plain safetensors that any conforming reader accepts.
// nlpodyssey/safetensors (a Go port of Hugging Face's reference implementation) is
// the independent reader and writer here; the product uses its own streaming
// reader/writer (safetensors.go), so these tests keep the two honest in both
// directions.

func TestNativeFileReadsInReferenceLibrary(t *testing.T) {
	m := &Model{Meta: fullMeta(), Tensors: map[string]*tensor.Dense{
		"fc.weight": dense([]int{2, 3}, 1, 2, 3, 4, 5, 6),
		"fc.bias":   dense([]int{2}, -1, 0.5),
	}}
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(p, m); err != nil {
		t.Fatal(err)
	}
	buf, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		t.Fatalf("reference library rejects our file: %v", err)
	}
	if st.Len() != 2 {
		t.Fatalf("reference library sees %d tensors, want 2", st.Len())
	}
	for name, want := range m.Tensors {
		view, ok := st.Tensor(name)
		if !ok {
			t.Fatalf("tensor %s missing", name)
		}
		if view.DType() != safetensors.F32 {
			t.Errorf("%s: dtype %v, want F32", name, view.DType())
		}
		vals := want.Data().([]float32)
		if got := view.DataLen(); got != uint64(4*len(vals)) {
			t.Fatalf("%s: %d bytes, want %d", name, got, 4*len(vals))
		}
		for i, v := range vals {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(view.Data()[4*i:])); got != v {
				t.Errorf("%s[%d] = %v, want %v", name, i, got, v)
			}
		}
	}
	_, meta, err := safetensors.ReadMetadata(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := meta.Metadata()["format"]; got != FormatName {
		t.Errorf("metadata format = %q, want %q", got, FormatName)
	}
}

func TestReferenceLibraryFileReadsHere(t *testing.T) {
	vals := []float32{0.5, -1.25, 3, 1e-8, 7, 8}
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	view, err := safetensors.NewTensorView(safetensors.F32, []uint64{2, 3}, raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := safetensors.Serialize(map[string]safetensors.TensorView{"layer1.0.conv1.weight": view}, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ref.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := ReadSafetensors(p)
	if err != nil {
		t.Fatalf("our reader rejects the reference library's file: %v", err)
	}
	got := ts["layer1.0.conv1.weight"]
	if got == nil || !got.Shape().Eq(tensor.Shape{2, 3}) {
		t.Fatalf("tensor = %v, want shape (2, 3)", got)
	}
	for i, v := range got.Data().([]float32) {
		if v != vals[i] {
			t.Errorf("[%d] = %v, want %v", i, v, vals[i])
		}
	}
	if meta["k"] != "v" {
		t.Errorf("metadata = %v, want k=v", meta)
	}
}
