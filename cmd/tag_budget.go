package cmd

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"io"
	"sync"

	"github.com/autotag/autotag/data/jpeg"
)

// defaultDecodeBudgetMB is tag's default --decode-budget-mb: room for a few photos
// at the default pixel cap at once, whatever --workers is.
const defaultDecodeBudgetMB = 1024

// headerPrefix is how much of a file decodeNeed reads to find its header.
const headerPrefix = 1 << 20

// decodeLimits are tag's limits on decoding one photo.
type decodeLimits struct {
	budget    *memBudget // memory of the photos decoding at once
	maxPixels int        // --max-pixels
	maxBytes  int64      // --max-file-mb, in bytes
}

// memBudget bounds the memory the photos being decoded at once may hold, so that
// --workers N does not multiply the pixel cap's worst case by N. A photo waits until
// its share is free; one that needs more than the whole budget runs alone.
type memBudget struct {
	mu      sync.Mutex
	used    int64
	max     int64
	changed chan struct{} // closed and replaced whenever used goes down
}

func newMemBudget(max int64) *memBudget {
	return &memBudget{max: max, changed: make(chan struct{})}
}

// acquire takes n bytes (at most the whole budget), waiting until they are free or
// ctx ends; it returns what it took, for release.
func (b *memBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = max(min(n, b.max), 0)
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return n, nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// release gives back n bytes taken by acquire.
func (b *memBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// decodeNeed estimates the memory decoding the photo in r (size bytes) holds at its
// peak: the file's bytes, the decoded image and, for a progressive JPEG, the
// coefficients its decoder keeps until the last scan. It reads the header from the
// first headerPrefix bytes; a header it cannot find there (a TIFF whose directory
// is at the end) counts as the pixel cap's worst case, maxPixels × 8 bytes.
func decodeNeed(r io.ReaderAt, size int64, maxPixels int) int64 {
	prefix := make([]byte, min(size, headerPrefix))
	n, _ := r.ReadAt(prefix, 0)
	prefix = prefix[:n]
	cfg, format, err := image.DecodeConfig(bytes.NewReader(prefix))
	if err != nil {
		return size + 8*int64(maxPixels)
	}
	bpp := int64(4)
	switch cfg.ColorModel {
	case color.RGBA64Model, color.NRGBA64Model, color.Gray16Model:
		bpp = 8
	}
	need := size + bpp*int64(cfg.Width)*int64(cfg.Height)
	if format == "jpeg" {
		need += jpeg.CoefficientBytes(prefix)
	}
	return need
}
