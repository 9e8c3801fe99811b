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
	if err := refuseExisting(filepath.Join(dir, "new"), "--out"); err != nil {
		t.Errorf("a new path: %v", err)
	}
	if err := refuseExisting(dir, "--out"); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("a folder: %v", err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "missing"), link); err != nil {
		t.Fatal(err)
	}
	if err := refuseExisting(link, "--out"); err == nil {
		t.Error("a dangling symbolic link is not refused")
	}
}
