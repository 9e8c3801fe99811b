package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/internal/testenv"
	"github.com/autotag/autotag/internal/tinymodel"
	"github.com/autotag/autotag/internal/xmp"
)

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pngBytes(t *testing.T, seed int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 40, 36))
	for y := range 36 {
		for x := range 40 {
			img.Set(x, y, color.NRGBA{uint8(x * seed), uint8(y * 7), uint8(seed * 50), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCollectPhotos(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "photos")
	outside := filepath.Join(dir, "outside")
	for _, p := range []string{"photos/a.jpg", "photos/sub/b.PNG", "photos/.hidden/c.jpg", "photos/.d.jpg",
		"photos/notes.txt", "outside/secret.jpg", "outside/dir/e.jpg", "loose.jpg"} {
		writeFile(t, filepath.Join(dir, p), []byte("x"))
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(root, "a.jpg"), filepath.Join(root, "inside-link.jpg")))
	must(os.Symlink(filepath.Join(outside, "secret.jpg"), filepath.Join(root, "outside-link.jpg")))
	must(os.Symlink(filepath.Join(outside, "dir"), filepath.Join(root, "linkdir")))

	got := collectPhotos([]string{root, filepath.Join(dir, "*.jpg"), "-", filepath.Join(dir, "missing.jpg"), filepath.Join(dir, "none*.png")},
		strings.NewReader(filepath.Join(dir, "loose.jpg")+"\r\n\n"+filepath.Join(outside, "secret.jpg")+"\n"))
	var ok, bad []string
	mirrors := map[string]string{}
	for _, p := range got {
		rel, _ := filepath.Rel(dir, p.path)
		if p.err != nil {
			bad = append(bad, rel)
		} else {
			ok = append(ok, rel)
			mirrors[rel] = p.mirror
		}
	}
	wantOK := []string{"photos/a.jpg", "photos/inside-link.jpg", "photos/sub/b.PNG", "loose.jpg", "outside/secret.jpg"}
	if !slices.Equal(ok, wantOK) {
		t.Errorf("photos %v, want %v", ok, wantOK)
	}
	wantBad := []string{"photos/outside-link.jpg", "missing.jpg", "none*.png"}
	if !slices.Equal(bad, wantBad) {
		t.Errorf("errors %v, want %v", bad, wantBad)
	}
	if mirrors["photos/sub/b.PNG"] != filepath.Join("photos", "sub", "b.PNG") || mirrors["loose.jpg"] != "loose.jpg" {
		t.Errorf("mirror paths %v", mirrors)
	}
}

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0", "+1": "'+1", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "dog": "dog", "": "", "a=b": "a=b",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 2
}

// TestTagCommandTiny runs `autotag tag` end to end on a tiny random-weight model:
// formats, bad files, exit status, XMP sidecars under --out, up-to-date skipping.
func TestTagCommandTiny(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.safetensors")
	if err := tinymodel.Write(model, []string{"tabby", "beagle", "seashore"}, "sigmoid"); err != nil {
		t.Fatal(err)
	}
	photos := filepath.Join(dir, "photos")
	writeFile(t, filepath.Join(photos, "a.png"), pngBytes(t, 1))
	writeFile(t, filepath.Join(photos, "sub", "b.png"), pngBytes(t, 2))
	writeFile(t, filepath.Join(photos, "empty.jpg"), nil)
	writeFile(t, filepath.Join(photos, "=evil.jpg"), []byte("just some text, not an image"))

	stdout, stderr, err := runCLI(t, "", "tag", "--model", model, "--threshold", "0", "-k", "2", photos)
	if exitCode(err) != 1 {
		t.Fatalf("exit %d (%v), want 1: two files are bad\n%s", exitCode(err), err, stderr)
	}
	rows := map[string]jsonlRow{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	var order []string
	for sc.Scan() {
		var r jsonlRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad jsonl line %q: %v", sc.Text(), err)
		}
		rel, _ := filepath.Rel(photos, r.File)
		rows[rel] = r
		order = append(order, rel)
	}
	if want := []string{"=evil.jpg", "a.png", "empty.jpg", filepath.Join("sub", "b.png")}; !slices.Equal(order, want) {
		t.Errorf("rows in order %v, want %v", order, want)
	}
	for _, f := range []string{"a.png", "sub/b.png"} {
		if r := rows[f]; r.Error != nil || len(r.Tags) != 2 {
			t.Errorf("%s: %+v, want 2 tags", f, r)
		}
	}
	for f, reason := range map[string]string{"empty.jpg": "empty", "=evil.jpg": "unsupported image format"} {
		if r := rows[f]; r.Error == nil || !strings.Contains(*r.Error, reason) || len(r.Tags) != 0 || r.Tags == nil {
			t.Errorf("%s: %+v, want an error about %q and tags []", f, r, reason)
		}
		if !strings.Contains(stderr, filepath.Join(photos, f)+": ") {
			t.Errorf("stderr does not name %s:\n%s", f, stderr)
		}
	}

	t.Chdir(photos)
	stdout, _, _ = runCLI(t, "", "tag", "--model", model, "--format", "csv", "=evil.jpg", "a.png")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || lines[0] != "file,tags,scores,error" || !strings.HasPrefix(lines[1], "'=evil.jpg,") {
		t.Errorf("csv output:\n%s", stdout)
	}
	stdout, _, err = runCLI(t, filepath.Join(photos, "a.png")+"\n", "tag", "--model", model, "--format", "table", "--threshold", "0", "-")
	if err != nil || !strings.HasPrefix(stdout, "FILE") || !strings.Contains(stdout, "a.png") {
		t.Errorf("table from stdin (err %v):\n%s", err, stdout)
	}
	if _, _, err := runCLI(t, "", "tag", "--model", model, "--format", "xml", photos); exitCode(err) != 2 {
		t.Errorf("bad --format: exit %d", exitCode(err))
	}

	// XMP sidecars under --out, mirroring the tree.
	out := filepath.Join(dir, "sidecars")
	args := []string{"tag", "--model", model, "--threshold", "0", "-k", "2", "--xmp", "--out", out, photos}
	if _, stderr, err := runCLI(t, "", args...); exitCode(err) != 1 {
		t.Fatalf("xmp run: %v\n%s", err, stderr)
	}
	sidecar := filepath.Join(out, "photos", "sub", "b.png.xmp")
	doc, err := os.ReadFile(sidecar)
	if err != nil {
		t.Fatal(err)
	}
	p, err := xmp.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := p.Get(xmp.NSDC, "subject")
	if len(subj.Strings()) != 2 || !strings.Contains(string(doc), "autotag|") {
		t.Errorf("sidecar:\n%s", doc)
	}
	if _, err := os.Stat(filepath.Join(photos, "a.png.xmp")); err == nil {
		t.Error("with --out, a sidecar was written next to the photo")
	}
	stdout, stderr, _ = runCLI(t, "", args...)
	if strings.Count(stdout, `"skipped":true`) != 2 || !strings.Contains(stderr, "up to date") {
		t.Errorf("second run did not skip the up-to-date sidecars:\n%s\n%s", stdout, stderr)
	}
	stdout, _, _ = runCLI(t, "", append(args, "--force")...)
	if strings.Contains(stdout, `"skipped"`) {
		t.Errorf("--force still skipped:\n%s", stdout)
	}
	stdout, _, _ = runCLI(t, "", append(args[:len(args)-1], "--threshold", "0.01", photos)...)
	if strings.Contains(stdout, `"skipped"`) {
		t.Errorf("other settings still skipped:\n%s", stdout)
	}
}

// TestTagXMPDarknetPhotos is the acceptance check: `autotag tag --xmp` on a
// copy of the shared photos writes sidecars with dog on dog.jpg and bird on eagle.jpg
// (default rules), readable by an XMP parser written against the spec.
func TestTagXMPDarknetPhotos(t *testing.T) {
	model := testenv.KerasModel(t)
	src := testenv.SharedData(t, "darknet-photos")
	dir := t.TempDir()
	for _, f := range []string{"dog.jpg", "eagle.jpg"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), b)
	}
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	if _, stderr, err := runCLI(t, "", "tag", "--model", model, "--xmp", dir); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for f, want := range map[string]string{"dog.jpg": "dog", "eagle.jpg": "bird"} {
		doc, err := os.ReadFile(filepath.Join(dir, f+".xmp"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := xmp.Parse(doc)
		if err != nil {
			t.Fatalf("%s.xmp: %v", f, err)
		}
		subj, _ := p.Get(xmp.NSDC, "subject")
		hier, _ := p.Get(xmp.NSLR, "hierarchicalSubject")
		if subj.Kind != "bag" || !slices.Contains(subj.Strings(), want) || !slices.Contains(hier.Strings(), "autotag|animal|"+want) {
			t.Errorf("%s.xmp: dc:subject %v, lr:hierarchicalSubject %v; want %q\n%s", f, subj.Strings(), hier.Strings(), want, doc)
		}
	}
}

func TestVersionAndCompletion(t *testing.T) {
	out, _, err := runCLI(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "autotag ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %q %v", out, err)
	}
	out, _, err = runCLI(t, "", "version", "--json")
	var v buildVersion
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Go == "" {
		t.Errorf("version --json: %q %v", out, err)
	}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		out, _, err := runCLI(t, "", "completion", sh)
		if err != nil || !strings.Contains(out, "autotag") {
			t.Errorf("completion %s: %v (%d bytes)", sh, err, len(out))
		}
	}
	if _, _, err := runCLI(t, "", "completion", "tcsh"); err == nil {
		t.Error("completion tcsh: no error")
	}
	out, _, _ = runCLI(t, "", "tag", "--print-rules")
	if !strings.Contains(out, "tag: dog") {
		t.Errorf("--print-rules: %q", out[:min(len(out), 200)])
	}
}
