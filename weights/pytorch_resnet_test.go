package weights

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/testenv"
)

// writeTorchvisionResNet50 runs testdata/weights/make_torchvision_resnet50.py with
// Debian's PyTorch, skipping when python3 or torch is absent or in -short mode.
func writeTorchvisionResNet50(t *testing.T, flags ...string) (string, map[string]struct {
	Shape []int
	DType string
	Sum   float64
	First float64
}) {
	t.Helper()
	if testing.Short() {
		t.Skip("writing a 100 MB PyTorch ResNet50 is skipped in -short mode")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		t.Skip("python3 has no torch (apt-get install python3-torch)")
	}
	out := filepath.Join(t.TempDir(), "resnet50.pth")
	script := filepath.Join(testenv.RepoRoot(), "testdata", "weights", "make_torchvision_resnet50.py")
	cmd := exec.Command(py, append([]string{script, out}, flags...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	b, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Shape []int
		DType string
		Sum   float64
		First float64
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return out, want
}

// TestImportTorchvisionResNet50 imports ResNet50 state_dicts written by PyTorch —
// zip format, and legacy format as a half-precision DataParallel checkpoint — and
// compares every tensor's sum (1e-4 relative: float32 accumulation) and first value
// (exact) with what PyTorch reported.
func TestImportTorchvisionResNet50(t *testing.T) {
	for _, flags := range [][]string{nil, {"--legacy", "--half", "--checkpoint", "--dataparallel"}} {
		name := "zip"
		if flags != nil {
			name = "legacy-half-checkpoint-dataparallel"
		}
		t.Run(name, func(t *testing.T) {
			src, want := writeTorchvisionResNet50(t, flags...)
			m, err := ImportFile(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			md := m.Meta
			if md.Layout != LayoutTorchvisionV15 || md.BNEps != 1e-5 || md.Preprocess != spec.Torchvision() ||
				!slices.Equal(md.Classes, ImageNetClasses()) || md.Activation != "softmax" || md.Source != "resnet50.pth" {
				t.Errorf("metadata %+v", md)
			}
			if len(m.Tensors) != 320-53 {
				t.Errorf("%d tensors, want 267", len(m.Tensors))
			}
			for name, w := range want {
				if strings.HasSuffix(name, "num_batches_tracked") {
					if _, ok := m.Tensors[name]; ok {
						t.Errorf("%s kept", name)
					}
					continue
				}
				d := m.Tensors[name]
				if d == nil {
					t.Errorf("%s missing", name)
					continue
				}
				v := d.Data().([]float32)
				if !slices.Equal([]int(d.Shape()), w.Shape) {
					t.Errorf("%s shape %v, want %v", name, d.Shape(), w.Shape)
				}
				var s float64
				for _, x := range v {
					s += float64(x)
				}
				if math.Abs(s-w.Sum) > 1e-4*math.Max(1, math.Abs(w.Sum)) {
					t.Errorf("%s sum %v, want %v", name, s, w.Sum)
				}
				if v[0] != float32(w.First) {
					t.Errorf("%s[0] = %v, want %v", name, v[0], w.First)
				}
			}
			t.Setenv("AUTOTAG_HOME", t.TempDir())
			res, err := Import(context.Background(), src, ImportOptions{})
			if p := res.Path; err != nil || filepath.Base(p) != DefaultTorchvisionName+".safetensors" {
				t.Fatalf("Import = %+v, %v", res, err)
			}
		})
	}
}

// TestStateDictToModelStrict: a missing, extra or wrong-shaped tensor is an error
// naming it.
func TestStateDictToModelStrict(t *testing.T) {
	specs, _ := ResNet50Tensors(LayoutTorchvisionV15, 3)
	base := func() map[string]*tensor.Dense {
		m := map[string]*tensor.Dense{}
		for _, s := range specs {
			n := 1
			for _, d := range s.Shape {
				n *= d
			}
			m[s.Name] = dense(s.Shape, make([]float32, n)...)
		}
		return m
	}
	if m, err := stateDictToModel(base(), importOptions{}); err != nil || len(m.Meta.Classes) != 3 || m.Meta.Classes[2] != "class_2" {
		t.Fatalf("complete state_dict: %v", err)
	}
	for name, edit := range map[string]func(map[string]*tensor.Dense){
		"layer2.1.conv2.weight":     func(m map[string]*tensor.Dense) { delete(m, "layer2.1.conv2.weight") },
		"layer9.0.conv1.weight":     func(m map[string]*tensor.Dense) { m["layer9.0.conv1.weight"] = dense([]int{1}, 0) },
		"layer1.0.bn1.running_mean": func(m map[string]*tensor.Dense) { m["layer1.0.bn1.running_mean"] = dense([]int{2}, 0, 0) },
	} {
		m := base()
		edit(m)
		_, err := stateDictToModel(m, importOptions{})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name it", name, err)
		}
	}
}
