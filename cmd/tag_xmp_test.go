package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autotag/autotag/internal/tinymodel"
)

// tinyTagModel writes a three-class test model and returns its path.
func tinyTagModel(t *testing.T) string {
	t.Helper()
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	model := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := tinymodel.Write(model, []string{"tabby", "beagle", "seashore"}, "sigmoid"); err != nil {
		t.Fatal(err)
	}
	return model
}

// assertIntact fails unless path still holds want with mode perm.
func assertIntact(t *testing.T, path string, want []byte, perm os.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s was changed:\n%s", filepath.Base(path), got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != perm {
		t.Errorf("%s: mode %04o, want %04o", filepath.Base(path), st.Mode().Perm(), perm)
	}
}

// TestTagXMPRespectsWriteProtection: a sidecar without its owner's write bit, and a
// folder without it, are refused per file with a clear error and left as they
// were, while the other photos' sidecars are written. The mode is what counts (CI
// runs as root, where writing would succeed).
func TestTagXMPRespectsWriteProtection(t *testing.T) {
	model := tinyTagModel(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ro.png"), pngBytes(t, 1))
	writeFile(t, filepath.Join(dir, "ok.png"), pngBytes(t, 2))
	lockedDir := filepath.Join(dir, "locked")
	writeFile(t, filepath.Join(lockedDir, "in.png"), pngBytes(t, 3))
	roSidecar := filepath.Join(dir, "ro.png.xmp")
	old := []byte(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>`)
	writeFile(t, roSidecar, old)
	if err := os.Chmod(roSidecar, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(lockedDir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(lockedDir, 0o755) })

	_, stderr, err := runCLI(t, "", "tag", "--model", model, "--threshold", "0", "--xmp", dir)
	if exitCode(err) != 1 {
		t.Fatalf("exit %d (%v), want 1\n%s", exitCode(err), err, stderr)
	}
	if !strings.Contains(stderr, "ro.png: xmp: "+roSidecar+" is read-only (mode 0444)") {
		t.Errorf("no clear error for the read-only sidecar:\n%s", stderr)
	}
	if !strings.Contains(stderr, "in.png: xmp: folder "+lockedDir+" is read-only") {
		t.Errorf("no clear error for the read-only folder:\n%s", stderr)
	}
	assertIntact(t, roSidecar, old, 0o444)
	if _, err := os.Lstat(filepath.Join(lockedDir, "in.png.xmp")); err == nil {
		t.Error("a sidecar was created in a read-only folder")
	}
	if entries, _ := os.ReadDir(lockedDir); len(entries) != 1 {
		t.Errorf("read-only folder holds %d entries, want the photo only", len(entries))
	}
	if _, err := os.Stat(filepath.Join(dir, "ok.png.xmp")); err != nil {
		t.Errorf("the writable photo's sidecar: %v", err)
	}
}

// TestTagXMPRefusesInvalidSidecar: a sidecar that is not exactly one XMP packet is
// refused and left byte for byte as it was.
func TestTagXMPRefusesInvalidSidecar(t *testing.T) {
	model := tinyTagModel(t)
	dir := t.TempDir()
	photo := filepath.Join(dir, "a.png")
	writeFile(t, photo, pngBytes(t, 1))
	const meta = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>`
	for name, doc := range map[string]string{
		"two roots":        meta + "\n" + meta,
		"two rdf:RDF":      strings.Replace(meta, "</x:xmpmeta>", `<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>`, 1),
		"after the packet": `<?xpacket begin=""?>` + meta + `<?xpacket end="w"?><extra/>`,
	} {
		sidecar := photo + ".xmp"
		writeFile(t, sidecar, []byte(doc))
		_, stderr, err := runCLI(t, "", "tag", "--model", model, "--xmp", "--force", photo)
		if exitCode(err) != 1 || !strings.Contains(stderr, "left unchanged") {
			t.Errorf("%s: exit %d, want 1 with an error\n%s", name, exitCode(err), stderr)
		}
		assertIntact(t, sidecar, []byte(doc), 0o644)
	}
}

// TestTagXMPOutNeverSharesASidecar: two photos of the same name from different
// folders, which would map to one sidecar under --out, are not merged into it: the
// second is refused with an error naming both, and the sidecar is the first's alone.
func TestTagXMPOutNeverSharesASidecar(t *testing.T) {
	model := tinyTagModel(t)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "d1", "photos", "x.png"), filepath.Join(dir, "d2", "photos", "x.png")
	writeFile(t, first, pngBytes(t, 1))
	writeFile(t, second, pngBytes(t, 4))
	alone := filepath.Join(dir, "alone")
	if _, stderr, err := runCLI(t, "", "tag", "--model", model, "--threshold", "0", "--xmp", "--out", alone, first); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want, err := os.ReadFile(filepath.Join(alone, "x.png.xmp"))
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"files":   {first, second},
		"folders": {filepath.Dir(first), filepath.Dir(second)},
	} {
		out := filepath.Join(dir, "out-"+name)
		_, stderr, err := runCLI(t, "", append([]string{"tag", "--model", model, "--threshold", "0", "--xmp", "--out", out}, args...)...)
		if exitCode(err) != 1 {
			t.Fatalf("%s: exit %d (%v), want 1\n%s", name, exitCode(err), err, stderr)
		}
		if !strings.Contains(stderr, second+": xmp: sidecar ") || !strings.Contains(stderr, "already the sidecar of "+first) {
			t.Errorf("%s: the error does not name both photos:\n%s", name, stderr)
		}
		sidecar := filepath.Join(out, "x.png.xmp")
		if name == "folders" {
			sidecar = filepath.Join(out, "photos", "x.png.xmp")
		}
		got, err := os.ReadFile(sidecar)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the sidecar is not the first photo's alone:\n%s\n--- want\n%s", name, got, want)
		}
	}
}

// TestClaimSidecarsFoldsCaseWhereTheFileSystemDoes: on a case-folding file system
// (macOS, Windows) A.png and a.png from two folders share a sidecar under --out.
func TestClaimSidecarsFoldsCaseWhereTheFileSystemDoes(t *testing.T) {
	defer func(v bool) { caseInsensitiveFS = v }(caseInsensitiveFS)
	for _, folds := range []bool{false, true} {
		caseInsensitiveFS = folds
		photos := []photo{{path: "d1/A.png", mirror: "A.png"}, {path: "d2/a.png", mirror: "a.png"}}
		claimSidecars(photos, "out")
		if got := photos[1].err != nil; got != folds {
			t.Errorf("case folding %v: second photo refused = %v (%v)", folds, got, photos[1].err)
		}
		if photos[0].err != nil {
			t.Errorf("the first photo was refused: %v", photos[0].err)
		}
	}
}
