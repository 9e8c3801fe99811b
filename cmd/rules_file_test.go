//go:build unix

package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/tinymodel"
)

// unblockFIFO opens the write end of a FIFO once the test ends, so that a reader
// still blocked on it (the failure being tested for) does not outlive the test.
func unblockFIFO(t *testing.T, fifo string) {
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
}

// finishesWithin runs f and fails the test if it takes longer than d (a hang).
func finishesWithin(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %v", what, d)
	}
}

// TestRulesFileIsReadBounded: tag and serve read --rules through the one bounded
// reader: a FIFO (which would block a plain read forever) and /dev/zero (which
// would never end) are refused at once, before any model is loaded, with a message
// naming the file.
func TestRulesFileIsReadBounded(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	fifo := filepath.Join(t.TempDir(), "rules.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	unblockFIFO(t, fifo)
	photo := filepath.Join(t.TempDir(), "p.png")
	writeFile(t, photo, pngBytes(t, 1))
	for _, rules := range []string{fifo, "/dev/zero"} {
		for _, args := range [][]string{
			{"tag", "--model", "/nonexistent.safetensors", "--rules", rules, photo},
			{"serve", "--addr", "127.0.0.1:0", "--model", "/nonexistent.safetensors", "--rules", rules},
		} {
			var err error
			finishesWithin(t, 10*time.Second, strings.Join(args, " "), func() { _, _, err = runCLI(t, "", args...) })
			if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), rules) || exitCode(err) != 2 {
				t.Errorf("%v: %v (exit %d), want a usage error saying %s is not a regular file", args, err, exitCode(err), rules)
			}
		}
	}
}

// TestTagFIFOPhoto: a FIFO named as a photo gets a row error at once instead of
// blocking the run on an open that waits for a writer.
func TestTagFIFOPhoto(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.safetensors")
	if err := tinymodel.Write(model, []string{"tabby", "beagle", "seashore"}, "sigmoid"); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "photo.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	unblockFIFO(t, fifo)
	var stdout string
	var err error
	finishesWithin(t, 20*time.Second, "tag FIFO", func() { stdout, _, err = runCLI(t, "", "tag", "--model", model, fifo) })
	if exitCode(err) != 1 || !strings.Contains(stdout, "not a regular file") {
		t.Errorf("exit %d (%v), output %q: want a row error saying the photo is not a regular file", exitCode(err), err, stdout)
	}
}
