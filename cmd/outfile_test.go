package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportONNXKeepsExistingOut: export-onnx refuses an existing OUT (say, the
// model file itself given twice) before loading anything, unless --force.
func TestExportONNXKeepsExistingOut(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "model.safetensors")
	writeFile(t, out, []byte("the user's model"))
	_, _, err := runCLI(t, "", "weights", "export-onnx", out, out)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "already exists; use --force") {
		t.Errorf("export-onnx over an existing file: exit %d, %v", exitCode(err), err)
	}
	if b, _ := os.ReadFile(out); string(b) != "the user's model" {
		t.Error("the existing file was changed")
	}
	if _, _, err := runCLI(t, "", "weights", "export-onnx", out, out, "--force"); err == nil || strings.Contains(err.Error(), "already exists") {
		t.Errorf("--force still refused (or loaded a text file as a model): %v", err)
	}
}

func TestRefuseExisting(t *testing.T) {
	dir := t.TempDir()
	if err := refuseExisting(filepath.Join(dir, "new"), "--out", false); err != nil {
		t.Errorf("a new path: %v", err)
	}
	if err := refuseExisting(dir, "--out", false); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("a folder: %v", err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "missing"), link); err != nil {
		t.Fatal(err)
	}
	if err := refuseExisting(link, "--out", false); err == nil {
		t.Error("a dangling symbolic link is not refused")
	}
	if err := refuseExisting(link, "--out", true); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("a symbolic link with --force: %v", err)
	}
	if err := refuseExisting(filepath.Join(dir, "new"), "--out", true); err != nil {
		t.Errorf("a new path with --force: %v", err)
	}
}

// TestForceNeverWritesOverLinks: with --force, every command that writes a user
// file (train --out, eval --json, export-onnx OUT, data split --out) still refuses
// an output that is a symbolic link, before any work, naming the link; the link and
// its target stay as they were.
func TestForceNeverWritesOverLinks(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	dir := t.TempDir()
	target := filepath.Join(dir, "precious.txt")
	writeFile(t, target, []byte("mine"))
	link := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	splits := filepath.Join(dir, "splits")
	if err := os.MkdirAll(splits, 0o755); err != nil {
		t.Fatal(err)
	}
	namesLink := filepath.Join(splits, "names.txt")
	if err := os.Symlink(target, namesLink); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		link string
	}{
		{[]string{"train", "--train", "csv:x.csv:imgs", "--out", link("out.safetensors"), "--force"}, filepath.Join(dir, "out.safetensors")},
		{[]string{"eval", "--model", "/nonexistent.safetensors", "--data", "csv:x.csv:imgs", "--json", link("eval.json"), "--force"}, filepath.Join(dir, "eval.json")},
		{[]string{"weights", "export-onnx", "/nonexistent.safetensors", link("m.onnx"), "--force"}, filepath.Join(dir, "m.onnx")},
		{[]string{"data", "split", "csv:x.csv:imgs", "--out", splits, "--force"}, namesLink},
	} {
		_, _, err := runCLI(t, "", c.args...)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), c.link) {
			t.Errorf("%v: exit %d, %v; want a usage error naming the link %s", c.args, exitCode(err), err, c.link)
		}
		if st, err := os.Lstat(c.link); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%v: %s is no longer a link", c.args, c.link)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "mine" {
		t.Errorf("the links' target was changed: %q", b)
	}
}
