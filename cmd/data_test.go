package cmd

import (
	"errors"
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
