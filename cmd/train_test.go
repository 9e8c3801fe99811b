package cmd

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/train"
	"github.com/autotag/autotag/weights"
)

// trainFixture writes what `autotag train --from-features` needs without running a
// backbone: a CSV dataset, exported features for it and a stand-in backbone file
// (only its metadata and hash are used). It returns the common arguments, without
// --out.
func trainFixture(t *testing.T) []string {
	t.Helper()
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	dir := t.TempDir()
	const n, dim = 24, 8
	classes := []string{"a", "b"}
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float32, n*dim), make([]float32, n*len(classes))
	var csv strings.Builder
	csv.WriteString("file,tags\n")
	for i := range n {
		img := fmt.Sprintf("img%02d.jpg", i)
		writeFile(t, filepath.Join(dir, img), []byte("x"))
		c := i % 2
		y[i*2+c] = 1
		for d := range dim {
			x[i*dim+d] = float32(rng.NormFloat64()*0.1) + float32(c*(d%2))
		}
		fmt.Fprintf(&csv, "%s,%s\n", img, classes[c])
	}
	writeFile(t, filepath.Join(dir, "names.txt"), []byte("a\nb\n"))
	writeFile(t, filepath.Join(dir, "train.csv"), []byte(csv.String()))
	feats := filepath.Join(dir, "feats")
	if err := os.MkdirAll(feats, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := train.SaveNPY(filepath.Join(feats, "train_X.npy"), x, n, 1, dim); err != nil {
		t.Fatal(err)
	}
	if err := train.SaveNPY(filepath.Join(feats, "train_Y.npy"), y, n, len(classes)); err != nil {
		t.Fatal(err)
	}
	bb := filepath.Join(dir, "backbone.safetensors")
	meta := weights.Metadata{Arch: "resnet50", Layout: weights.LayoutKerasV1, BNEps: 1e-3, Preprocess: spec.Caffe(), Activation: "softmax"}
	if err := weights.Save(bb, &weights.Model{Meta: meta, Tensors: map[string]*tensor.Dense{
		"conv1.weight": tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))}}); err != nil {
		t.Fatal(err)
	}
	return []string{"train", "--quiet", "--model", bb, "--from-features", feats, "--epochs", "2", "--batch", "8",
		"--train", "csv:" + filepath.Join(dir, "train.csv") + ":" + dir + ":" + filepath.Join(dir, "names.txt")}
}

// TestTrainRemovesCheckpointsAfterSuccess: a successful run leaves the model file
// and no OUT.ckpt folder; --keep-checkpoints keeps it; a failed run keeps it (and
// says so) for --resume.
func TestTrainRemovesCheckpointsAfterSuccess(t *testing.T) {
	args := trainFixture(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "head.safetensors")
	if _, stderr, err := runCLI(t, "", append(args, "--out", out)...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(out + ".ckpt"); err == nil {
		t.Errorf("%s.ckpt is left after a successful run", filepath.Base(out))
	}

	kept := filepath.Join(dir, "kept.safetensors")
	if _, stderr, err := runCLI(t, "", append(args, "--out", kept, "--keep-checkpoints")...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if files, _ := (&train.Checkpointer{Dir: kept + ".ckpt"}).Files(); len(files) == 0 {
		t.Error("--keep-checkpoints: no checkpoints kept")
	}

	// A user folder given as --checkpoints loses only the checkpoints.
	own := filepath.Join(dir, "mine")
	writeFile(t, filepath.Join(own, "notes.txt"), []byte("mine"))
	if _, stderr, err := runCLI(t, "", append(args, "--out", filepath.Join(dir, "own.safetensors"), "--checkpoints", own)...); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if ents, _ := os.ReadDir(own); len(ents) != 1 || ents[0].Name() != "notes.txt" {
		t.Errorf("--checkpoints folder after the run: %v, want notes.txt only", ents)
	}

	// The model file cannot be written (its folder is a dangling link, which the
	// checks before training cannot tell from a folder still to be made): the run
	// fails after training, and its checkpoints stay for --resume.
	gone := filepath.Join(dir, "gone")
	if err := os.Symlink(filepath.Join(dir, "nowhere", "deeper"), gone); err != nil {
		t.Fatal(err)
	}
	failed := filepath.Join(gone, "failed.safetensors")
	_, stderr, err := runCLI(t, "", append(args, "--out", failed, "--checkpoints", filepath.Join(dir, "failed.ckpt"))...)
	if err == nil {
		t.Fatal("writing the model over a folder succeeded")
	}
	if files, _ := (&train.Checkpointer{Dir: filepath.Join(dir, "failed.ckpt")}).Files(); len(files) == 0 {
		t.Error("a failed run removed its checkpoints")
	}
	if !strings.Contains(stderr, "--resume") {
		t.Errorf("no hint about --resume:\n%s", stderr)
	}
}

// TestOutputsAreNotReplacedWithoutForce: train --out and eval --json refuse a path
// that exists (before doing any work) unless --force, and leave it as it was.
func TestOutputsAreNotReplacedWithoutForce(t *testing.T) {
	args := trainFixture(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "precious.safetensors")
	writeFile(t, out, []byte("an earlier model"))
	_, _, err := runCLI(t, "", append(args, "--out", out)...)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "already exists; use --force") {
		t.Fatalf("train over an existing --out: exit %d, %v", exitCode(err), err)
	}
	if b, _ := os.ReadFile(out); string(b) != "an earlier model" {
		t.Error("the existing model file was changed")
	}
	if _, err := os.Lstat(out + ".ckpt"); err == nil {
		t.Error("a refused run wrote checkpoints")
	}
	if _, stderr, err := runCLI(t, "", append(args, "--out", out, "--force")...); err != nil {
		t.Fatalf("--force: %v\n%s", err, stderr)
	}

	report := filepath.Join(dir, "report.json")
	writeFile(t, report, []byte("{}"))
	_, _, err = runCLI(t, "", "eval", "--model", out, "--data", "csv:nowhere.csv:nowhere", "--json", report)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "already exists; use --force") {
		t.Errorf("eval over an existing --json: exit %d, %v", exitCode(err), err)
	}
	if b, _ := os.ReadFile(report); string(b) != "{}" {
		t.Error("the existing report was changed")
	}
}
