package cmd

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/train"
	"github.com/autotag/autotag/weights"
)

// TestWeightsInspectHistory: a trained model's train_history is summarised in a
// few readable lines (epochs, best epoch and mAP, first and last epochs); --json
// prints it whole.
func TestWeightsInspectHistory(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	var hist []map[string]any
	for e := 1; e <= 40; e++ {
		hist = append(hist, map[string]any{"epoch": e, "train_loss": 1 / float64(e), "val_loss": 1.5 / float64(e), "val_map": 0.5 + 0.01*float64(min(e, 23)) - 0.001*float64(max(e-23, 0)), "lr": 1e-3})
	}
	hj, _ := json.Marshal(hist)
	recipe := `{"loss":"asl","note":"` + strings.Repeat("x", 400) + `"}`
	m := &weights.Model{
		Meta: weights.Metadata{Arch: "resnet50", Layout: weights.LayoutTorchvisionV15, Activation: "sigmoid", Classes: []string{"a", "b"},
			BackboneSHA256: strings.Repeat("0", 64), Extra: map[string]string{"train_history": string(hj), "train_recipe": recipe}},
		Tensors: map[string]*tensor.Dense{
			"fc.weight": tensor.New(tensor.WithShape(2, 2048), tensor.WithBacking(make([]float32, 4096))),
			"fc.bias":   tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 0})),
		},
	}
	p := filepath.Join(t.TempDir(), "head.safetensors")
	if err := weights.Save(p, m); err != nil {
		t.Fatal(err)
	}
	out, err := runCLIOutput(t, "weights", "inspect", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "40 epochs, best val mAP 0.7300 at epoch 23") || !strings.Contains(out, "…") {
		t.Errorf("no history summary:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 200 {
			t.Errorf("line of %d characters: %.80s…", len(line), line)
		}
	}
	if n := strings.Count(out, "\n"); n > 30 {
		t.Errorf("%d lines:\n%s", n, out)
	}
	out, err = runCLIOutput(t, "weights", "inspect", "--json", p)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SHA256   string
		Metadata struct {
			TrainHistory []map[string]any `json:"train_history"`
			TrainRecipe  map[string]any   `json:"train_recipe"`
		}
		Tensors map[string][]int
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Metadata.TrainHistory) != 40 || len(doc.Metadata.TrainRecipe["note"].(string)) != 400 ||
		fmt.Sprint(doc.Tensors["fc.weight"]) != "[2 2048]" || len(doc.SHA256) != 64 {
		t.Errorf("--json: %v\n%.600s", err, out)
	}
}

// TestWeightsPullListColumns: `weights pull --list` prints the columns the README
// promises (name, size, sha256, layout), aligned.
func TestWeightsPullListColumns(t *testing.T) {
	out, err := runCLIOutput(t, "weights", "pull", "--list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME SIZE SHA256 LAYOUT" {
		t.Fatalf("header %q", lines[0])
	}
	col := strings.Index(lines[0], "SHA256")
	for _, l := range lines[1:] {
		r := []rune(l)
		if len(r) < col || (r[col-1] != ' ' || r[col] == ' ') || !strings.Contains(l, "resnet50") {
			t.Errorf("row not aligned under SHA256: %q", l)
		}
	}
	if len(lines) != len(weights.KnownCheckpoints())+1 {
		t.Errorf("%d rows for %d checkpoints", len(lines)-1, len(weights.KnownCheckpoints()))
	}
}

// TestWeightsInspectHistoryWithoutValidation: the history of a model trained
// without --val (val metrics null) is summarised, not called unreadable.
func TestWeightsInspectHistoryWithoutValidation(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	nan := math.NaN()
	st := &train.State{History: []train.EpochStats{{Epoch: 1, TrainLoss: 0.91234567, ValLoss: nan, ValMAP: nan, LR: 1e-3}, {Epoch: 2, TrainLoss: 0.5, ValLoss: nan, ValMAP: nan, LR: 5e-4}}}
	cfg := train.DefaultConfig()
	head := train.NewHead(cfg.Head, 2048, 2, 1)
	bb := &train.Backbone{Path: "backbone.safetensors", SHA256: strings.Repeat("0", 64),
		Meta: weights.Metadata{Arch: "resnet50", Layout: weights.LayoutTorchvisionV15, Activation: "softmax"}}
	p := filepath.Join(t.TempDir(), "head.safetensors")
	if err := train.SaveModel(p, head, bb, []string{"a", "b"}, nil, st, train.RunOptions{Config: cfg}, nil); err != nil {
		t.Fatal(err)
	}
	out, err := runCLIOutput(t, "weights", "inspect", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "history:     2 epochs\n") || !strings.Contains(out, "0.9123") || strings.Contains(out, "not readable") {
		t.Errorf("history summary:\n%s", out)
	}
}

// TestWeightsInspectEscapesControls: a model file's strings (labels, source, extra
// metadata, tensor names) are written by whoever made the file; inspect must not
// pass terminal control sequences (ESC, OSC 52 clipboard writes, right-to-left
// overrides) through to the user's terminal.
func TestWeightsInspectEscapesControls(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	const evil = "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\u202e"
	m := &weights.Model{
		Meta: weights.Metadata{Arch: "resnet50", Layout: weights.LayoutTorchvisionV15, Activation: "sigmoid",
			Classes: []string{"cat" + evil, "dog"}, Source: "src" + evil, CreatedBy: "me" + evil,
			BackboneSHA256: strings.Repeat("0", 64), Extra: map[string]string{"note" + evil: "v" + evil}},
		Tensors: map[string]*tensor.Dense{
			"fc.weight": tensor.New(tensor.WithShape(2, 2048), tensor.WithBacking(make([]float32, 4096))),
			"fc.bias":   tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 0})),
		},
	}
	p := filepath.Join(t.TempDir(), "head.safetensors")
	if err := weights.Save(p, m); err != nil {
		t.Fatal(err)
	}
	out, err := runCLIOutput(t, "weights", "inspect", p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Errorf("inspect printed control characters:\n%q", out)
	}
	for _, want := range []string{`cat\x1b]52`, `src\x1b`, `me\x1b`, `note\x1b`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks the escaped %s:\n%s", want, out)
		}
	}
}
