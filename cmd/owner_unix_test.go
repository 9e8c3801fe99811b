//go:build unix

package cmd

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestTagXMPKeepsOwnerAsRoot: `tag --xmp` run as root leaves a replaced sidecar with
// its owner, and gives a new one the folder's owner, so the user can still edit
// them.
func TestTagXMPKeepsOwnerAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	model := tinyTagModel(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "old.png"), pngBytes(t, 1))
	writeFile(t, filepath.Join(dir, "new.png"), pngBytes(t, 2))
	old := filepath.Join(dir, "old.png.xmp")
	writeFile(t, old, nil)
	if err := os.Chown(old, 1234, 1235); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runCLI(t, "", "tag", "--model", model, "--xmp", dir); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for f, want := range map[string][2]uint32{"old.png.xmp": {1234, 1235}, "new.png.xmp": {4321, 4322}} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != want[0] || sys.Gid != want[1] {
			t.Errorf("%s owned by %d:%d, want %d:%d", f, sys.Uid, sys.Gid, want[0], want[1])
		}
	}
}
