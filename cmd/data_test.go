package cmd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autotag/autotag/data"
)

func TestDataCommands(t *testing.T) {
	dir := t.TempDir()
	spec, err := data.Synthetic(12, 64, 5).WriteCSV(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLIOutput(t, "data", "stats", spec)
	if err != nil || !strings.Contains(out, "images: 12") || !strings.Contains(out, "pos_weight") {
		t.Fatalf("stats: %v\n%s", err, out)
	}
	out, err = runCLIOutput(t, "data", "split", spec, "--val", "0.25", "--out", filepath.Join(dir, "splits"))
	if err != nil {
		t.Fatalf("split: %v\n%s", err, out)
	}
	var specs []string
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "train: "); ok {
			specs = append(specs, s)
		}
		if s, ok := strings.CutPrefix(line, "val: "); ok {
			specs = append(specs, s)
		}
	}
	if len(specs) != 2 {
		t.Fatalf("split printed no specs:\n%s", out)
	}
	out, err = runCLIOutput(t, append([]string{"data", "check"}, specs...)...)
	if err != nil || !strings.Contains(out, "ok: no problems") {
		t.Fatalf("check of a clean split: %v\n%s", err, out)
	}
	// Checking the whole set against a split of itself finds every image twice.
	out, err = runCLIOutput(t, "data", "check", spec, specs[1])
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "ACROSS") {
		t.Fatalf("check with leaks: %v\n%s", err, out)
	}
}

// TestDataSplitMoves splits a dataset inside a project folder, moves the folder and
// uses the split from its new place: the csv files hold relative paths.
func TestDataSplitMoves(t *testing.T) {
	base := t.TempDir()
	proj := filepath.Join(base, "project")
	if _, err := data.Synthetic(12, 64, 5).WriteCSV(proj); err != nil {
		t.Fatal(err)
	}
	t.Chdir(proj)
	out, err := runCLIOutput(t, "data", "split", "csv:labels.csv:images:names.txt", "--val", "0.25", "--out", "splits")
	if err != nil {
		t.Fatalf("split: %v\n%s", err, out)
	}
	var specs []string
	for _, line := range strings.Split(out, "\n") {
		for _, p := range []string{"train: ", "val: "} {
			if s, ok := strings.CutPrefix(line, p); ok {
				specs = append(specs, s)
			}
		}
	}
	if len(specs) != 2 || specs[0] != "csv:splits/train.csv:images:splits/names.txt" {
		t.Fatalf("split printed specs %q, want relative ones:\n%s", specs, out)
	}
	csv, err := os.ReadFile(filepath.Join(proj, "splits", "train.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(csv), base) || strings.Contains(string(csv), "..") {
		t.Fatalf("train.csv holds paths that do not move:\n%s", csv)
	}

	moved := filepath.Join(base, "moved")
	if err := os.Rename(proj, moved); err != nil {
		t.Fatal(err)
	}
	t.Chdir(moved)
	out, err = runCLIOutput(t, append([]string{"data", "check"}, specs...)...)
	if err != nil || !strings.Contains(out, "ok: no problems") || !strings.Contains(out, "9 images") || !strings.Contains(out, "3 images") {
		t.Fatalf("check of the moved split: %v\n%s", err, out)
	}
	// From elsewhere, the same files load with the folder named.
	t.Chdir(base)
	ds, err := data.Load("csv:moved/splits/val.csv:moved/images:moved/splits/names.txt", data.LoadOptions{})
	if err != nil || len(ds.Records) != 3 || ds.Report.Defects() != 0 {
		t.Fatalf("moved val split: %v, %d records, %s", err, len(ds.Records), ds.Report.Summary())
	}
}

// TestDataSplitKeepsExistingFiles: a split into a folder that already holds one of
// its output files is refused before any is written (the user's files stay byte for
// byte); --force replaces them all.
func TestDataSplitKeepsExistingFiles(t *testing.T) {
	dir := t.TempDir()
	spec, err := data.Synthetic(12, 64, 5).WriteCSV(dir)
	if err != nil {
		t.Fatal(err)
	}
	splits := filepath.Join(dir, "splits")
	if err := os.MkdirAll(splits, 0o755); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(splits, "val.csv")
	if err := os.WriteFile(mine, []byte("file,tags\nmine.jpg,cat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLIOutput(t, "data", "split", spec, "--val", "0.25", "--out", splits)
	if err == nil || !strings.Contains(err.Error(), mine) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("split over an existing val.csv: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(mine); string(b) != "file,tags\nmine.jpg,cat\n" {
		t.Fatalf("val.csv was changed: %q", b)
	}
	for _, name := range []string{"train.csv", "names.txt"} {
		if _, err := os.Lstat(filepath.Join(splits, name)); err == nil {
			t.Errorf("%s was written although the split was refused", name)
		}
	}
	if out, err := runCLIOutput(t, "data", "split", spec, "--val", "0.25", "--out", splits, "--force"); err != nil {
		t.Fatalf("split --force: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(mine); strings.Contains(string(b), "mine.jpg") {
		t.Fatal("--force did not replace val.csv")
	}
}
