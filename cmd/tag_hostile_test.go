package cmd

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/tinymodel"
)

// TestTagHostilePaths: a FIFO named on the command line gets an error row instead
// of blocking the run forever; names holding a newline or an escape sequence cannot
// forge rows or drive the terminal in table output and on stderr (and round-trip
// in jsonl); a path list on stdin with a line of megabytes skips that line with an
// error row and goes on to the paths after it.
func TestTagHostilePaths(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.safetensors")
	if err := tinymodel.Write(model, []string{"tabby", "beagle", "seashore"}, "sigmoid"); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ok := filepath.Join(dir, "ok.png")
	writeFile(t, ok, pngBytes(t, 1))
	evil := filepath.Join(dir, "red\x1b[31m\nforged.png\tx")
	writeFile(t, evil, []byte("not an image"))
	evilOK := filepath.Join(dir, "fine\x1b]0;title\x07.png")
	writeFile(t, evilOK, pngBytes(t, 2))

	type result struct {
		stdout, stderr string
		err            error
	}
	run := func(stdin string, args ...string) result {
		t.Helper()
		done := make(chan result, 1)
		go func() {
			o, e, err := runCLI(t, stdin, append([]string{"tag", "--model", model}, args...)...)
			done <- result{o, e, err}
		}()
		select {
		case r := <-done:
			return r
		case <-time.After(60 * time.Second):
			t.Fatalf("tag %v still running after a minute", args)
			return result{}
		}
	}

	r := run("", fifo, ok)
	if exitCode(r.err) != 1 || !strings.Contains(r.stdout, `"error":"not a regular file"`) || !strings.Contains(r.stdout, "ok.png") {
		t.Errorf("FIFO: exit %d\n%s\n%s", exitCode(r.err), r.stdout, r.stderr)
	}

	r = run("", "--format", "table", evil, evilOK)
	for name, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("table %s carries a raw escape:\n%q", name, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(line, "forged") {
				t.Errorf("table %s: a name forged a line: %q", name, out)
			}
		}
	}
	if !strings.Contains(r.stdout, `\nforged.png\tx"`) {
		t.Errorf("table output does not show the quoted name:\n%s", r.stdout)
	}

	r = run("", evil)
	var row jsonlRow
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &row); err != nil || row.File != evil {
		t.Errorf("jsonl: %q does not round-trip the name: %v", r.stdout, err)
	}

	list := ok + "\n" + strings.Repeat("x", 3<<20) + "\n" + evilOK + "\n"
	r = run(list, "-")
	files := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var row jsonlRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("bad jsonl %q: %v", sc.Text(), err)
		}
		files[row.File] = row.Error == nil
		if row.Error != nil && !strings.Contains(*row.Error, "line 2") {
			t.Errorf("unexpected error row: %s", sc.Text())
		}
	}
	if !files[ok] || !files[evilOK] || len(files) != 3 || exitCode(r.err) != 1 {
		t.Errorf("path list with a 3 MB line: exit %d, rows %v\n%s", exitCode(r.err), files, r.stderr)
	}
	if _, err := os.Stat(fifo); err != nil {
		t.Fatal(err)
	}
}
