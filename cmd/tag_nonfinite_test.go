package cmd

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/weights"
)

// TestTagNonFiniteScores: a model whose finite weights overflow (softmax of +Inf
// and -Inf logits is NaN) gives an error row per file in every format, never a NaN
// score past --threshold or --top-k, and a failing exit status.
func TestTagNonFiniteScores(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	dir := t.TempDir()
	ts, err := tinymodel.Tensors(2)
	if err != nil {
		t.Fatal(err)
	}
	w := make([]float32, 2*2048)
	for i := range 2048 {
		w[i], w[2048+i] = math.MaxFloat32, -math.MaxFloat32
	}
	ts["fc.weight"] = tensor.New(tensor.WithShape(2, 2048), tensor.WithBacking(w))
	ts["fc.bias"] = tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 0}))
	model := filepath.Join(dir, "overflow.safetensors")
	if err := tinymodel.Save(model, weights.Metadata{Classes: []string{"up", "down"}, Activation: "softmax"}, ts); err != nil {
		t.Fatal(err)
	}
	photo := filepath.Join(dir, "a.png")
	writeFile(t, photo, pngBytes(t, 1))
	for _, format := range []string{"jsonl", "csv", "table"} {
		stdout, stderr, err := runCLI(t, "", "tag", "--model", model, "--format", format, "--threshold", "0", "-k", "2", "--rules", "none", photo)
		if exitCode(err) != 1 {
			t.Errorf("%s: exit %d (%v), want 1", format, exitCode(err), err)
		}
		if strings.Contains(strings.ToLower(stdout), "nan") || strings.Contains(stdout, "Inf") || !strings.Contains(stdout, "non-finite") {
			t.Errorf("%s: output has no error row or shows a non-finite score:\n%s", format, stdout)
		}
		if !strings.Contains(stderr, "non-finite") {
			t.Errorf("%s: stderr does not report the failure:\n%s", format, stderr)
		}
	}
}

// TestWritersRefuseNonFiniteScores: a result carrying a NaN or infinite score (say
// from a hand-edited sidecar) is written as an error row by every writer.
func TestWritersRefuseNonFiniteScores(t *testing.T) {
	for _, format := range []string{"jsonl", "csv", "table"} {
		for _, score := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			var buf bytes.Buffer
			w, err := newResultWriter(format, &buf)
			if err != nil {
				t.Fatal(err)
			}
			r := tagResult{file: "a.jpg", tags: []autotag.Tag{{Label: "dog", Score: 0.9}, {Label: "cat", Score: score}}}
			if err := w.write(r); err != nil {
				t.Fatal(err)
			}
			w.flush()
			out := buf.String()
			if strings.Contains(strings.ToLower(out), "nan") || strings.Contains(out, "Inf") || strings.Contains(out, "0.9") || !strings.Contains(out, "non-finite") {
				t.Errorf("%s, score %v:\n%s", format, score, out)
			}
		}
	}
	if r := checkScores(tagResult{file: "a.jpg", tags: []autotag.Tag{{Label: "dog", Score: 0.5}}}); r.err != nil || len(r.tags) != 1 {
		t.Errorf("finite scores: %+v", r)
	}
}
