package cmd

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/autotag/autotag/data/jpeg"
)

// TestMemBudget: acquisitions beyond the budget wait for a release, one larger than
// the whole budget runs alone (clamped), and a waiter gives up when its context ends.
func TestMemBudget(t *testing.T) {
	b := newMemBudget(100)
	a, _ := b.acquire(context.Background(), 60)
	got := make(chan int64, 1)
	go func() { n, _ := b.acquire(context.Background(), 50); got <- n }()
	select {
	case <-got:
		t.Fatal("60 + 50 bytes held at once in a budget of 100")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(a)
	select {
	case n := <-got:
		b.release(n)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter was not woken by the release")
	}
	if n, err := b.acquire(context.Background(), 1000); n != 100 || err != nil {
		t.Fatalf("oversized acquire: %d %v, want the whole budget", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.acquire(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting on a full budget: %v, want the context's error", err)
	}
	b.release(100)
	if b.used != 0 {
		t.Fatalf("%d bytes held after every release", b.used)
	}
}

// TestDecodeNeed: a photo's estimate is its file plus its decoded pixels, plus the
// coefficients for a progressive JPEG; a header decodeNeed cannot read counts as the
// pixel cap's worst case.
func TestDecodeNeed(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 300, 200))); err != nil {
		t.Fatal(err)
	}
	pngBytes := buf.Bytes()
	if got, want := decodeNeed(bytes.NewReader(pngBytes), int64(len(pngBytes)), 1000), int64(len(pngBytes))+4*300*200; got != want {
		t.Errorf("PNG: %d, want %d", got, want)
	}
	prog, err := os.ReadFile("../data/jpeg/testdata/prog_444.jpg")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(prog))
	if err != nil {
		t.Fatal(err)
	}
	want := int64(len(prog)) + 4*int64(cfg.Width*cfg.Height) + jpeg.CoefficientBytes(prog)
	if got := decodeNeed(bytes.NewReader(prog), int64(len(prog)), 1000); got != want || jpeg.CoefficientBytes(prog) == 0 {
		t.Errorf("progressive JPEG: %d, want %d", got, want)
	}
	junk := []byte("not an image at all")
	if got, want := decodeNeed(bytes.NewReader(junk), int64(len(junk)), 1000), int64(len(junk))+8*1000; got != want {
		t.Errorf("unreadable header: %d, want %d", got, want)
	}
}

// TestDecodeBudgetFlag: --decode-budget-mb must be positive, is refused before any
// model loads, and is listed with its environment variable.
func TestDecodeBudgetFlag(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	if _, _, err := runCLI(t, "", "tag", "--decode-budget-mb", "0", "photo.jpg"); err == nil || !strings.Contains(err.Error(), "--decode-budget-mb 0") {
		t.Errorf("--decode-budget-mb 0: %v", err)
	}
	help, _, err := runCLI(t, "", "tag", "--help")
	if err != nil || !strings.Contains(help, "--decode-budget-mb") || !strings.Contains(help, "AUTOTAG_DECODE_BUDGET_MB") {
		t.Errorf("tag --help lacks --decode-budget-mb (%v):\n%s", err, help)
	}
}
