package cmd

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autotag/autotag/data"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/internal/jpegbomb"
	"github.com/autotag/autotag/internal/tinymodel"
)

// TestTagFileLimits: files over a limit get a row error naming the limit and the
// flag that changes it (size and header checked before the body is read), a scan
// bomb is refused for the work it asks, and a cancelled context (Ctrl-C) stops the
// decode itself.
func TestTagFileLimits(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.safetensors")
	if err := tinymodel.Write(model, []string{"tabby", "beagle", "seashore"}, "sigmoid"); err != nil {
		t.Fatal(err)
	}
	photos := filepath.Join(dir, "photos")
	writeFile(t, filepath.Join(photos, "ok.png"), pngBytes(t, 1))
	// 3 MB: a valid photo followed by bytes decoders ignore.
	writeFile(t, filepath.Join(photos, "long.png"), pngBytes(t, 2))
	if err := os.Truncate(filepath.Join(photos, "long.png"), 3<<20); err != nil {
		t.Fatal(err)
	}
	huge := pngBytes(t, 3)
	binary.BigEndian.PutUint32(huge[16:], 30000)
	binary.BigEndian.PutUint32(huge[20:], 30000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	writeFile(t, filepath.Join(photos, "huge.png"), huge)
	writeFile(t, filepath.Join(photos, "bomb.jpg"), jpegbomb.Scans(1024, 1024, 3, 20000))

	stdout, stderr, err := runCLI(t, "", "tag", "--model", model, "--max-file-mb", "1", photos)
	if exitCode(err) != 1 {
		t.Fatalf("exit %d (%v), want 1\n%s", exitCode(err), err, stderr)
	}
	rows := map[string]jsonlRow{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var r jsonlRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad jsonl line %q: %v", sc.Text(), err)
		}
		rows[filepath.Base(r.File)] = r
	}
	if r := rows["ok.png"]; r.Error != nil {
		t.Errorf("ok.png: %v", *r.Error)
	}
	for f, want := range map[string][]string{
		"long.png": {"3.0 MB", "1.0 MB", "--max-file-mb"},
		"huge.png": {"30000x30000", "--max-pixels"},
		"bomb.jpg": {"decoding work"},
	} {
		r := rows[f]
		if r.Error == nil {
			t.Errorf("%s: no error", f)
			continue
		}
		for _, w := range want {
			if !strings.Contains(*r.Error, w) {
				t.Errorf("%s: error %q does not say %q", f, *r.Error, w)
			}
		}
	}

	tg, err := autotag.Open(context.Background(), model)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tagFile(ctx, tg, filepath.Join(photos, "ok.png"), decodeLimits{budget: newMemBudget(1 << 30), maxPixels: data.DefaultMaxPixels, maxBytes: data.DefaultMaxBytes}); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "decoding stopped") {
		t.Errorf("cancelled: %v, want the decode stopped with context.Canceled", err)
	}
}
