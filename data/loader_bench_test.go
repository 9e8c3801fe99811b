package data

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/autotag/autotag/internal/testenv"
)

// benchDataset is the first n coco128 train2017 photos (640×~480 JPEGs), unlabelled.
func benchDataset(b *testing.B, n int) *Dataset {
	b.Helper()
	dir := testenv.SharedData(b, "coco128", "images", "train2017")
	names, err := listImages(dir)
	if err != nil {
		b.Fatal(err)
	}
	ds := &Dataset{Classes: COCOClasses, Report: &Report{}}
	for _, n := range names[:min(n, len(names))] {
		ds.Records = append(ds.Records, Record{Path: filepath.Join(dir, n)})
	}
	return ds
}

func runEpoch(b *testing.B, l *Loader, epoch int) int {
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	n := 0
	for {
		batch, err := it.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n += batch.N
	}
}

// BenchmarkLoader is one training epoch (decode the original JPEG, RandomResizedCrop to
// 224, flip, jitter, normalise) over 32 coco128 photos with 1 and 2 workers. Compare
// images/s between the two (run with -cpu 2; or -cpu 1,2 for one core vs two).
func BenchmarkLoader(b *testing.B) {
	ds := benchDataset(b, 32)
	aug := DefaultAugment(224)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			l, err := NewLoader(LoaderConfig{Dataset: ds, Spec: TorchvisionSpec(), Augment: &aug, BatchSize: 8, Workers: workers})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for i := 0; b.Loop(); i++ {
				n += runEpoch(b, l, i)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkImageSource compares getting one training-ready image (shorter side 320)
// by decoding the original JPEG against reading the warm decode cache (a fresh Cache
// each time, so the content hash is recomputed as in a new run).
func BenchmarkImageSource(b *testing.B) {
	ds := benchDataset(b, 32)
	dir := b.TempDir()
	warm, err := NewCache(dir, DefaultCacheShort)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range ds.Records {
		if _, err := warm.Load(r.Path); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("decode-original", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			img, err := DecodeFile(ds.Records[i%len(ds.Records)].Path, DecodeOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ResizeShorter(img, DefaultCacheShort, "bilinear"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache-warm", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c := &Cache{Dir: dir, Short: DefaultCacheShort}
			if _, err := c.Load(ds.Records[i%len(ds.Records)].Path); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoaderCache is a whole training epoch over 32 photos, decoding the
// originals against reading the warm decode cache.
func BenchmarkLoaderCache(b *testing.B) {
	ds := benchDataset(b, 32)
	aug := DefaultAugment(224)
	cache, err := NewCache(b.TempDir(), DefaultCacheShort)
	if err != nil {
		b.Fatal(err)
	}
	for name, c := range map[string]*Cache{"decode-original": nil, "cache-warm": cache} {
		b.Run(name, func(b *testing.B) {
			l, err := NewLoader(LoaderConfig{Dataset: ds, Spec: TorchvisionSpec(), Augment: &aug, BatchSize: 8, Cache: c})
			if err != nil {
				b.Fatal(err)
			}
			runEpoch(b, l, 0) // warms the cache
			n := 0
			for i := 0; b.Loop(); i++ {
				n += runEpoch(b, l, i)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
