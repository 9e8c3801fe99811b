package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/weights"
)

func TestParseInts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"1,8", []int{1, 8}, true},
		{" 2 ", []int{2}, true},
		{"0", nil, false},
		{"1,,2", nil, false},
		{"x", nil, false},
	} {
		got, err := parseInts(c.in)
		if (err == nil) != c.ok || (c.ok && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("parseInts(%q) = %v, %v", c.in, got, err)
		}
	}
}

// TestBenchCommandJSON runs `autotag bench --json` on random weights at a small size
// (a smoke test of the command, not a measurement).
func TestBenchCommandJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a ResNet50")
	}
	out, _, err := runCLI(t, "", "bench", "--json", "--batch", "1,2", "--threads", "1", "--size", "64", "--seconds", "0")
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	if len(rep.Results) != 2 || rep.Results[1].Batch != 2 || rep.Results[0].MsPerImage <= 0 || rep.Size != 64 {
		t.Errorf("unexpected report %+v", rep)
	}
	for key, n := range decimalsByKey(t, []byte(out)) {
		if limit := map[bool]int{true: 2, false: 4}[strings.Contains(key, "ms_")]; n > limit {
			t.Errorf("%s written with %d decimals, want at most %d:\n%s", key, n, limit, out)
		}
	}
}

// TestBenchHeadOnlyModel runs `autotag bench --model` on a head-only model file: the
// model opener joins it with the cached backbone it names, where bench once bound the
// file by hand and failed on the missing backbone tensors.
func TestBenchHeadOnlyModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a ResNet50")
	}
	home := t.TempDir()
	t.Setenv("AUTOTAG_HOME", home)
	ts, err := tinymodel.Tensors(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(weights.ModelsDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	bb := filepath.Join(weights.ModelsDir(), "tiny.safetensors")
	if err := tinymodel.Save(bb, weights.Metadata{Classes: []string{"x", "y"}}, ts); err != nil {
		t.Fatal(err)
	}
	sum, err := weights.FileSHA256(bb)
	if err != nil {
		t.Fatal(err)
	}
	w, b := tinymodel.Linear(3, 2048, 5)
	head := filepath.Join(t.TempDir(), "head.safetensors")
	if err := tinymodel.Save(head, weights.Metadata{Classes: []string{"a", "b", "c"}, Activation: "sigmoid", BackboneSHA256: sum},
		map[string]*tensor.Dense{"fc.weight": w, "fc.bias": b}); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "", "bench", "--json", "--model", head, "--batch", "1", "--threads", "1", "--size", "32", "--seconds", "0")
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	if len(rep.Results) != 1 || rep.Results[0].MsPerImage <= 0 || rep.Model != head {
		t.Errorf("unexpected report %+v", rep)
	}
}

// TestBenchABInOneProcess runs every engine combination (--winograd, --fused,
// --data-parallel both) in one bench run: each gets its own row, the engine being
// chosen per runner rather than by package switches.
func TestBenchABInOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a ResNet50")
	}
	out, _, err := runCLI(t, "", "bench", "--json", "--batch", "2", "--threads", "1", "--size", "64", "--seconds", "0",
		"--winograd", "both", "--fused", "both", "--data-parallel", "both")
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	seen := map[[3]bool]bool{}
	for _, r := range rep.Results {
		if r.MsPerImage <= 0 {
			t.Errorf("row %+v has no time", r)
		}
		seen[[3]bool{r.Winograd, r.Fused, r.DataParallel}] = true
	}
	if len(rep.Results) != 8 || len(seen) != 8 {
		t.Errorf("%d rows, %d distinct engines; want 8 and 8", len(rep.Results), len(seen))
	}
}
