package train

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNPYRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.npy")
	data := []float32{1, -2.5, 3, 4, 5, 6}
	if err := SaveNPY(p, data, 2, 3); err != nil {
		t.Fatal(err)
	}
	got, shape, err := ReadNPY(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, data) || !slices.Equal(shape, []int{2, 3}) {
		t.Fatalf("read %v %v", got, shape)
	}
	// numpy itself, when the Debian python3-numpy is installed
	if _, err := exec.LookPath("/usr/bin/python3"); err == nil {
		out, err := exec.Command("/usr/bin/python3", "-c", "import numpy as n,sys; a=n.load(sys.argv[1]); print(a.shape, a.dtype, a.sum())", p).CombinedOutput()
		if err == nil && strings.TrimSpace(string(out)) != "(2, 3) float32 16.5" {
			t.Errorf("numpy read %q", out)
		}
	}
	if err := SaveNPY(p, data, 4); err == nil {
		t.Error("want an error for a wrong shape")
	}
}
