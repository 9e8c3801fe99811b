package weights

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/internal/testenv"
	"gorgonia.org/tensor"
)

// sumOf adds up a Dense of any numeric type as float64.
func sumOf(t *testing.T, d *tensor.Dense) (float64, []float64) {
	t.Helper()
	v := reflect.ValueOf(d.Data())
	if v.Kind() != reflect.Slice {
		v = reflect.ValueOf([]any{d.Data()})
	}
	var s float64
	var all []float64
	for i := range v.Len() {
		e := reflect.ValueOf(v.Index(i).Interface())
		var f float64
		switch e.Kind() {
		case reflect.Float32, reflect.Float64:
			f = e.Float()
		case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f = float64(e.Int())
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f = float64(e.Uint())
		case reflect.Bool:
			if e.Bool() {
				f = 1
			}
		}
		s += f
		all = append(all, f)
	}
	return s, all
}

// TestReadPyTorchTinyCNN reads the state_dict that Debian's PyTorch 1.13.1 wrote
// in zip, legacy and checkpoint form (fixtures/torch-1.13.1-generated, see
// SOURCES.txt there) and checks every tensor's shape, dtype, sum and first values
// against tiny_cnn_expected.json (sums to 1e-5 relative, values exact in float32).
func TestReadPyTorchTinyCNN(t *testing.T) {
	dir := testenv.SharedData(t, "fixtures", "torch-1.13.1-generated")
	b, err := os.ReadFile(filepath.Join(dir, "tiny_cnn_expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Tensors map[string]struct {
			Shape []int
			DType string
			Sum   float64
			First []float64
		}
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tiny_cnn_state_dict_zip.pt", "tiny_cnn_state_dict_legacy.pt", "tiny_cnn_checkpoint_zip.pt"} {
		ts, err := ReadPyTorch(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(ts) != len(want.Tensors) {
			t.Errorf("%s: %d tensors, want %d", f, len(ts), len(want.Tensors))
		}
		for name, w := range want.Tensors {
			d := ts[name]
			if d == nil {
				t.Errorf("%s: %s missing", f, name)
				continue
			}
			if !slices.Equal([]int(d.Shape()), w.Shape) && !(len(w.Shape) == 0 && d.Dims() == 0) {
				t.Errorf("%s: %s shape %v, want %v", f, name, d.Shape(), w.Shape)
			}
			wantType := map[string]tensor.Dtype{"torch.float32": tensor.Float32, "torch.int64": tensor.Int64}[w.DType]
			if d.Dtype() != wantType {
				t.Errorf("%s: %s dtype %v, want %v", f, name, d.Dtype(), w.DType)
			}
			sum, all := sumOf(t, d)
			if math.Abs(sum-w.Sum) > 1e-5*math.Max(1, math.Abs(w.Sum)) {
				t.Errorf("%s: %s sum %v, want %v", f, name, sum, w.Sum)
			}
			for i, v := range w.First {
				if float32(all[i]) != float32(v) {
					t.Errorf("%s: %s[%d] = %v, want %v", f, name, i, all[i], v)
				}
			}
		}
	}
}

// TestReadPyTorchCandle reads candle's fixtures: an int64 state_dict, one nested
// under "model_state_dict", and a Fortran-ordered (non-contiguous) 3-D tensor whose
// C-order values are 1..24 (fixtures/candle, see SOURCES.txt).
func TestReadPyTorchCandle(t *testing.T) {
	dir := testenv.SharedData(t, "fixtures", "candle")
	for _, f := range []string{"test.pt", "test_with_key.pt"} {
		ts, err := ReadPyTorch(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d := ts["test"]
		if d == nil || !slices.Equal([]int(d.Shape()), []int{2, 4}) || !slices.Equal(d.Data().([]int64), []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Errorf("%s: test = %v", f, d)
		}
	}
	ts, err := ReadPyTorch(filepath.Join(dir, "fortran_tensor_3d.pth"))
	if err != nil {
		t.Fatal(err)
	}
	d := ts["tensor_fortran"]
	want := make([]int64, 24)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if d == nil || !slices.Equal([]int(d.Shape()), []int{2, 3, 4}) || !slices.Equal(d.Data().([]int64), want) {
		t.Errorf("tensor_fortran = %v", d)
	}
}

// gopickleTestdata is gopickle v0.3.0's pytorch/testdata in the module cache:
// torch.save files of every dtype, pickle protocols 1-5, zip and legacy.
func gopickleTestdata(t *testing.T) string {
	t.Helper()
	modcache := os.Getenv("GOMODCACHE")
	if modcache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			t.Skipf("go env GOMODCACHE: %v", err)
		}
		modcache = strings.TrimSpace(string(out))
	}
	dir := filepath.Join(modcache, "github.com", "nlpodyssey", "gopickle@v0.3.0", "pytorch", "testdata")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("gopickle testdata absent (go mod download github.com/nlpodyssey/gopickle@v0.3.0): %v", err)
	}
	return dir
}

// TestReadPyTorchDTypes sweeps gopickle's 100 fixtures (generate_fixtures.py there):
// floats [1.2,-3.4,5.6,-7.8] → float32 (rounded through the source dtype), ints
// [1,-2,3,-4], uint8 [1,10,100,255], bool [T,F,T,F].
func TestReadPyTorchDTypes(t *testing.T) {
	dir := gopickleTestdata(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.pt"))
	if len(files) < 100 {
		t.Fatalf("%d fixtures in %s", len(files), dir)
	}
	floats := []float64{1.2, -3.4, 5.6, -7.8}
	for _, f := range files {
		base := filepath.Base(f)
		ts, err := ReadPyTorch(f)
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		d := ts[""]
		if d == nil {
			t.Errorf("%s: no bare tensor", base)
			continue
		}
		dt := strings.TrimPrefix(strings.Split(base, "_proto")[0], "tensor_")
		_, got := sumOf(t, d)
		var want []float64
		tol := 0.0
		switch dt {
		case "float16", "bfloat16":
			want, tol = floats, 0.04
		case "float32", "float64":
			want, tol = floats, 1e-6
		case "uint8":
			want = []float64{1, 10, 100, 255}
		case "bool":
			want = []float64{1, 0, 1, 0}
		default:
			want = []float64{1, -2, 3, -4}
		}
		if strings.HasPrefix(dt, "float") || dt == "bfloat16" {
			if d.Dtype() != tensor.Float32 {
				t.Errorf("%s: dtype %v, want float32", base, d.Dtype())
			}
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > tol*math.Abs(want[i]) {
				t.Errorf("%s: %v, want %v", base, got, want)
				break
			}
		}
	}
}

// TestReadPyTorchRejects feeds truncated and garbled files: errors, no panics.
func TestReadPyTorchRejects(t *testing.T) {
	dir := testenv.SharedData(t, "fixtures", "torch-1.13.1-generated")
	tmp := t.TempDir()
	for _, f := range []string{"tiny_cnn_state_dict_zip.pt", "tiny_cnn_state_dict_legacy.pt"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		for _, cut := range []int{0, 1, 10, 100, len(b) / 2, len(b) - 1} {
			p := filepath.Join(tmp, "cut")
			os.WriteFile(p, b[:cut], 0o644)
			if _, err := ReadPyTorch(p); err == nil {
				t.Errorf("%s cut at %d: no error", f, cut)
			}
		}
	}
	p := filepath.Join(tmp, "text")
	os.WriteFile(p, []byte("hello"), 0o644)
	if _, err := ReadPyTorch(p); err == nil {
		t.Errorf("text file: no error")
	}
}

func FuzzReadPyTorch(f *testing.F) {
	for _, dir := range []string{"torch-1.13.1-generated", "candle"} {
		if d := testenv.SharedDataDir(); d != "" {
			files, _ := filepath.Glob(filepath.Join(d, "fixtures", dir, "*.pt*"))
			for _, p := range files {
				if b, err := os.ReadFile(p); err == nil && len(b) < 20000 {
					f.Add(b)
				}
			}
		}
	}
	f.Add([]byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.")) // legacy magic and protocol only
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(tmp, "fuzz.pt")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ReadPyTorch(p)
	})
}
