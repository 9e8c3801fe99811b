package data

import (
	"context"
	"errors"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

func syntheticDataset(t testing.TB, n, size int) *Dataset {
	t.Helper()
	spec, err := Synthetic(n, size, 21).WriteCSV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Load(spec, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func collect(t *testing.T, l *Loader, epoch int) []*Batch {
	t.Helper()
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	var out []*Batch
	for {
		b, err := it.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func sameBatches(a, b []*Batch) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i].X, b[i].X) || !slices.Equal(a[i].Y, b[i].Y) || !slices.Equal(a[i].Indices, b[i].Indices) {
			return false
		}
	}
	return true
}

func TestLoaderDeterministic(t *testing.T) {
	ds := syntheticDataset(t, 20, 64)
	aug := DefaultAugment(32)
	cfg := LoaderConfig{Dataset: ds, Spec: TorchvisionSpec(), Augment: &aug, BatchSize: 6, Seed: 5, Workers: 1}
	l1, err := NewLoader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers, cfg.Prefetch = 3, 1
	l3, _ := NewLoader(cfg)
	e0 := collect(t, l1, 0)
	if len(e0) != 4 || e0[3].N != 2 || len(e0[0].X) != 6*3*32*32 || len(e0[0].Y) != 6*12 {
		t.Fatalf("batches: %d, last N %d", len(e0), e0[len(e0)-1].N)
	}
	if !sameBatches(e0, collect(t, l3, 0)) || !sameBatches(e0, collect(t, l1, 0)) {
		t.Fatal("same seed and epoch gave different batches (1 vs 3 workers, or two runs)")
	}
	e1 := collect(t, l1, 1)
	if sameBatches(e0, e1) {
		t.Fatal("epochs 0 and 1 gave the same batches")
	}
	// Every record once per epoch, with its own labels.
	var seen []int
	for _, b := range e0 {
		for r, idx := range b.Indices {
			seen = append(seen, idx)
			for c := range ds.Classes {
				want := float32(0)
				if slices.Contains(ds.Records[idx].Labels, c) {
					want = 1
				}
				if b.Y[r*len(ds.Classes)+c] != want {
					t.Fatalf("targets of record %d wrong", idx)
				}
			}
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, SequentialSampler{N: 20}.Epoch(0)) {
		t.Errorf("epoch visited %v", seen)
	}
	cfg.DropLast = true
	ld, _ := NewLoader(cfg)
	if n := len(collect(t, ld, 0)); n != 3 {
		t.Errorf("DropLast: %d batches", n)
	}
}

func TestLoaderEvalMatchesPreprocess(t *testing.T) {
	ds := syntheticDataset(t, 5, 48)
	spec := CaffeSpec()
	spec.Resize, spec.Crop = 40, 32
	l, err := NewLoader(LoaderConfig{Dataset: ds, Spec: spec, BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, l, 0)
	var imgs []image.Image
	for _, r := range ds.Records {
		img, err := DecodeFile(r.Path, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	want, err := PreprocessBatch(imgs, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].X, want) || !slices.Equal(got[0].Indices, []int{0, 1, 2, 3, 4}) {
		t.Error("evaluation batches differ from PreprocessBatch in record order")
	}
}

func TestLoaderErrors(t *testing.T) {
	ds := syntheticDataset(t, 6, 32)
	if err := os.WriteFile(ds.Records[2].Path, []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Resize: 32, Crop: 32, Color: "rgb", Scale: 1, Std: [3]float32{1, 1, 1}}
	l, _ := NewLoader(LoaderConfig{Dataset: ds, Spec: spec, BatchSize: 4})
	bs := collect(t, l, 0)
	if len(bs) != 2 || bs[0].N != 4 || bs[1].N != 1 || len(bs[0].Skipped) != 1 || bs[0].Skipped[0].Index != 2 {
		t.Fatalf("skip policy: %d batches", len(bs))
	}
	if !errors.Is(bs[0].Skipped[0].Err, ErrUnsupportedFormat) {
		t.Errorf("skipped error %v", bs[0].Skipped[0].Err)
	}
	l, _ = NewLoader(LoaderConfig{Dataset: ds, Spec: spec, BatchSize: 4, Sampler: fixedSampler{0, 99}})
	if bs := collect(t, l, 0); len(bs) != 1 || bs[0].N != 1 || len(bs[0].Skipped) != 1 {
		t.Errorf("out-of-range sampler index not skipped")
	}
	l, _ = NewLoader(LoaderConfig{Dataset: ds, Spec: spec, BatchSize: 4, OnError: FailOnError})
	it := l.Epoch(context.Background(), 0)
	defer it.Close()
	var err error
	for err == nil {
		_, err = it.Next()
	}
	var ie ItemError
	if !errors.As(err, &ie) || ie.Index != 2 {
		t.Errorf("fail policy: %v", err)
	}
}

func TestLoaderCancel(t *testing.T) {
	ds := syntheticDataset(t, 40, 64)
	before := runtime.NumGoroutine()
	aug := DefaultAugment(32)
	l, _ := NewLoader(LoaderConfig{Dataset: ds, Spec: TorchvisionSpec(), Augment: &aug, BatchSize: 2, Workers: 2, Prefetch: 1})
	ctx, cancel := context.WithCancel(context.Background())
	it := l.Epoch(ctx, 0)
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := it.Next(); !errors.Is(err, context.Canceled) {
		// A batch already queued may come first; the one after must be the error.
		if _, err = it.Next(); !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v", err)
		}
	}
	done := make(chan struct{})
	go func() { it.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after cancellation")
	}
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+1 {
		t.Errorf("%d goroutines before, %d after Close", before, after)
	}
}

func TestRepeatSamplerInLoader(t *testing.T) {
	ds := syntheticDataset(t, 12, 32)
	s, err := NewRepeatFactorSampler(ds, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	aug := DefaultAugment(16)
	l, _ := NewLoader(LoaderConfig{Dataset: ds, Spec: TorchvisionSpec(), Augment: &aug, BatchSize: 4, Sampler: s})
	n := 0
	for _, b := range collect(t, l, 0) {
		n += b.N
	}
	if n != len(s.Epoch(0)) || n <= 12 {
		t.Errorf("loader gave %d items, sampler %d", n, len(s.Epoch(0)))
	}
}

func TestCache(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.jpg")
	big := quadrants(400, 200)
	if err := writeJPEG(src, big, 90); err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(filepath.Join(dir, "cache"), 100)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if a.Bounds().Size() != (image.Point{200, 100}) {
		t.Fatalf("cached size %v, want 200x100", a.Bounds().Size())
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "cache", "rgb-s100", "*", "*.rgb"))
	if len(entries) != 1 {
		t.Fatalf("entries %v", entries)
	}
	st, _ := os.Stat(entries[0])
	if st.Size() != cacheHeaderLen+3*200*100 {
		t.Errorf("entry size %d", st.Size())
	}
	// A fresh cache object (another run) reads the entry; a copy under another name hits.
	copyPath := filepath.Join(dir, "b.jpg")
	raw, _ := os.ReadFile(src)
	os.WriteFile(copyPath, raw, 0o644)
	c2, _ := NewCache(filepath.Join(dir, "cache"), 100)
	b, err := c2.Load(copyPath)
	if err != nil || !slices.Equal(a.Pix, b.Pix) {
		t.Fatalf("warm load differs: %v", err)
	}
	if e2, _ := filepath.Glob(filepath.Join(dir, "cache", "rgb-s100", "*", "*.rgb")); len(e2) != 1 {
		t.Errorf("copy made a second entry")
	}
	// A corrupt entry is rebuilt.
	os.WriteFile(entries[0], []byte("ATRGB junk"), 0o644)
	c3, _ := NewCache(filepath.Join(dir, "cache"), 100)
	if d, err := c3.Load(src); err != nil || !slices.Equal(a.Pix, d.Pix) {
		t.Errorf("corrupt entry not rebuilt: %v", err)
	}
	// Small images are stored as they are, never upscaled.
	small := filepath.Join(dir, "s.png")
	os.WriteFile(small, encode(t, "png", quadrants(40, 30)), 0o644)
	if s, err := c.Load(small); err != nil || s.Bounds().Dx() != 40 {
		t.Errorf("small image: %v %v", err, s.Bounds())
	}
	if _, err := c.Load(filepath.Join(dir, "missing.jpg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

// fixedSampler visits the same indices every epoch.
type fixedSampler []int

func (f fixedSampler) Epoch(int) []int { return f }
