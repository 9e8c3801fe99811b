package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/weights"
)

// TestWeightsCommands drives import, list, inspect, export-onnx and pull --list on
// a zero-valued torchvision-layout ResNet50 written as a plain safetensors file.
func TestWeightsCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("AUTOTAG_HOME", home)
	if out, err := runCLIOutput(t, "weights", "list"); err != nil || !strings.Contains(out, "autotag weights import") {
		t.Errorf("empty list: %q %v", out, err)
	}
	if _, err := runCLIOutput(t, "weights", "inspect", "nope"); err == nil || !strings.Contains(err.Error(), "autotag weights import") {
		t.Errorf("inspect of a missing model: %v", err)
	}
	specs, err := weights.ResNet50Tensors(weights.LayoutTorchvisionV15, 4)
	if err != nil {
		t.Fatal(err)
	}
	m := &weights.Model{Meta: weights.Metadata{Layout: weights.LayoutTorchvisionV15, BNEps: 1e-5, Arch: "resnet50", Activation: "sigmoid", Classes: []string{"a", "b", "c", "d"}}, Tensors: map[string]*tensor.Dense{}}
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		if strings.HasSuffix(s.Name, "running_var") {
			for i := range v {
				v[i] = 1
			}
		}
		m.Tensors[s.Name] = tensor.New(tensor.WithShape(s.Shape...), tensor.WithBacking(v))
	}
	src := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := weights.Save(src, m); err != nil {
		t.Fatal(err)
	}
	out, err := runCLIOutput(t, "weights", "import", src, "--name", "zero")
	if err != nil || strings.TrimSpace(out) != weights.CachePath("zero") {
		t.Fatalf("import: %q %v", out, err)
	}
	if out, err := runCLIOutput(t, "weights", "list"); err != nil || !strings.Contains(out, "zero") || !strings.Contains(out, "torchvision-v1.5") {
		t.Errorf("list: %q %v", out, err)
	}
	out, err = runCLIOutput(t, "weights", "inspect", "zero")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sha256:", "torchvision-v1.5", "tensors:     267", "layer4.0.conv2.weight", "classes:     4 (a, b, c, d)"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	onnx := filepath.Join(t.TempDir(), "m.onnx")
	if _, err := runCLIOutput(t, "weights", "export-onnx", "zero", onnx, "--fold-bn"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(onnx); err != nil || st.Size() < 85<<20 {
		t.Errorf("export: %v %v", st, err)
	}
	if out, err := runCLIOutput(t, "weights", "pull", "--list"); err != nil || !strings.Contains(out, "resnet50-torchvision-v2") {
		t.Errorf("pull --list: %q %v", out, err)
	}
	if _, err := runCLIOutput(t, "weights", "pull", "no-such-checkpoint"); err == nil || !strings.Contains(err.Error(), "autotag weights import") {
		t.Errorf("pull unknown: %v", err)
	}
	if _, err := runCLIOutput(t, "weights", "import", filepath.Join(t.TempDir(), "missing.pth")); err == nil {
		t.Errorf("import of a missing file succeeded")
	}
}

// zeroResNet50 is a torchvision-layout ResNet50 of zeros (batch norm as identity)
// whose fc.bias starts with bias, so that two of them differ in one number.
func zeroResNet50(t *testing.T, bias float32) *weights.Model {
	t.Helper()
	specs, err := weights.ResNet50Tensors(weights.LayoutTorchvisionV15, 2)
	if err != nil {
		t.Fatal(err)
	}
	m := &weights.Model{Meta: weights.Metadata{Layout: weights.LayoutTorchvisionV15, BNEps: 1e-5, Arch: "resnet50", Activation: "sigmoid", Classes: []string{"a", "b"}}, Tensors: map[string]*tensor.Dense{}}
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		v := make([]float32, n)
		switch {
		case strings.HasSuffix(s.Name, "running_var"):
			for i := range v {
				v[i] = 1
			}
		case s.Name == "fc.bias":
			v[0] = bias
		}
		m.Tensors[s.Name] = tensor.New(tensor.WithShape(s.Shape...), tensor.WithBacking(v))
	}
	return m
}

// TestWeightsImportKeepsCachedModel: importing a different model under a cached
// name is refused, naming the cached file, its sha256 and the ways out (--name,
// --force), and the cached file stays as it was; the same model again is fine and
// said to be; --force replaces.
func TestWeightsImportKeepsCachedModel(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	if err := weights.Save(a, zeroResNet50(t, 0)); err != nil {
		t.Fatal(err)
	}
	if err := weights.Save(b, zeroResNet50(t, 1)); err != nil {
		t.Fatal(err)
	}
	cached := weights.CachePath("m")
	if out, err := runCLIOutput(t, "weights", "import", a, "--name", "m"); err != nil || strings.TrimSpace(out) != cached {
		t.Fatalf("first import: %q %v", out, err)
	}
	sum, err := weights.FileSHA256(cached)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCLI(t, "", "weights", "import", a, "--name", "m")
	if err != nil || strings.TrimSpace(stdout) != cached || !strings.Contains(stderr, "already cached") {
		t.Errorf("same model again: %q %q %v", stdout, stderr, err)
	}
	_, err = runCLIOutput(t, "weights", "import", b, "--name", "m")
	if err == nil {
		t.Fatal("a different model replaced the cached one without --force")
	}
	for _, want := range []string{cached, sum, "--name", "--force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %q", err, want)
		}
	}
	if now, _ := weights.FileSHA256(cached); now != sum {
		t.Fatal("the cached model changed")
	}
	if _, err := runCLIOutput(t, "weights", "import", b, "--name", "m", "--force"); err != nil {
		t.Fatal(err)
	}
	if now, _ := weights.FileSHA256(cached); now == sum {
		t.Fatal("--force did not replace the cached model")
	}
}
