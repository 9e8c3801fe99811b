package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/disintegration/imaging"

	"github.com/autotag/autotag/internal/atomicfile"
)

// DefaultCacheShort is the shorter side the decode cache stores: enough for
// RandomResizedCrop to 224 with room to spare, and ~4× fewer pixels than a 640×480
// original.
const DefaultCacheShort = 320

// cacheMagic starts every cache entry: format name and version.
var cacheMagic = [8]byte{'A', 'T', 'R', 'G', 'B', 0, 0, 1}

// cacheHeaderLen is the magic plus width and height (uint32 little-endian).
const cacheHeaderLen = 16

// Cache is an on-disk decode cache: each image is decoded once, resized so its
// shorter side is at most Short (aspect kept, never upscaled), and stored as raw RGB
// bytes after a 16-byte header (magic "ATRGB\0\0\1", width, height). Entries are keyed
// by the SHA-256 of the file content — a renamed or copied file hits, an edited one
// misses — and written atomically, so concurrent loaders and interrupted runs never
// see a partial entry. It is safe for concurrent use and reused across epochs and
// runs. Reading an entry costs a file read, where decoding a 640×480 JPEG costs
// ~7-10 ms of CPU.
type Cache struct {
	Dir           string
	Short         int
	Interpolation string // resize filter; "" = bilinear
	Decode        DecodeOptions

	memo sync.Map // path → memoKey: skips re-hashing unchanged files within a process
}

type memoKey struct {
	size  int64
	mtime time.Time
	sum   string
}

// NewCache opens (creating) a cache directory storing shorter side short (0 =
// DefaultCacheShort).
func NewCache(dir string, short int) (*Cache, error) {
	if short <= 0 {
		short = DefaultCacheShort
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("decode cache: %w", err)
	}
	return &Cache{Dir: dir, Short: short}, nil
}

// entryPath is where the entry for content hash sum lives.
func (c *Cache) entryPath(sum string) string {
	return filepath.Join(c.Dir, fmt.Sprintf("rgb-s%d", c.Short), sum[:2], sum+".rgb")
}

// Load returns the image at path, from the cache when present, else decoding it
// (with EXIF orientation and the pixel cap), shrinking it and storing it.
func (c *Cache) Load(path string) (*image.NRGBA, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var raw []byte
	var sum string
	if m, ok := c.memo.Load(path); ok && m.(memoKey).size == st.Size() && m.(memoKey).mtime.Equal(st.ModTime()) {
		sum = m.(memoKey).sum
	} else {
		if raw, err = readImageFile(path, c.Decode.maxBytes()); err != nil {
			return nil, err
		}
		h := sha256.Sum256(raw)
		sum = hex.EncodeToString(h[:])
		c.memo.Store(path, memoKey{st.Size(), st.ModTime(), sum})
	}
	entry := c.entryPath(sum)
	if img, err := readCacheEntry(entry); err == nil {
		return img, nil
	}
	if raw == nil {
		if raw, err = readImageFile(path, c.Decode.maxBytes()); err != nil {
			return nil, err
		}
	}
	img, err := decodeBytes(raw, c.Decode)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	small, err := c.shrink(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := writeCacheEntry(entry, small); err != nil {
		return nil, fmt.Errorf("decode cache: %w", err)
	}
	return small, nil
}

// shrink resizes img so its shorter side is at most Short, as packed NRGBA.
func (c *Cache) shrink(img image.Image) (*image.NRGBA, error) {
	b := img.Bounds()
	if min(b.Dx(), b.Dy()) > c.Short {
		return ResizeShorter(img, c.Short, c.Interpolation)
	}
	return toNRGBA(img), nil
}

// toNRGBA returns img as packed NRGBA with its origin at (0, 0).
func toNRGBA(img image.Image) *image.NRGBA {
	if n, ok := img.(*image.NRGBA); ok && n.Rect.Min == (image.Point{}) && n.Stride == 4*n.Rect.Dx() {
		return n
	}
	return imaging.Clone(img)
}

func writeCacheEntry(path string, img *image.NRGBA) error {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	buf := make([]byte, cacheHeaderLen+3*w*h)
	copy(buf, cacheMagic[:])
	binary.LittleEndian.PutUint32(buf[8:], uint32(w))
	binary.LittleEndian.PutUint32(buf[12:], uint32(h))
	rgb := buf[cacheHeaderLen:]
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		o := rgb[3*w*y:]
		for x := 0; x < w; x++ {
			o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, func(f *os.File) error { _, err := f.Write(buf); return err })
}

var errBadEntry = errors.New("decode cache: corrupt entry")

func readCacheEntry(path string) (*image.NRGBA, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < cacheHeaderLen || [8]byte(b[:8]) != cacheMagic {
		return nil, errBadEntry
	}
	w, h := int(binary.LittleEndian.Uint32(b[8:])), int(binary.LittleEndian.Uint32(b[12:]))
	if w <= 0 || h <= 0 || w > MaxSide || h > MaxSide || len(b) != cacheHeaderLen+3*w*h {
		return nil, errBadEntry
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rgb := b[cacheHeaderLen:]
	pix := img.Pix
	for i := 0; i < w*h; i++ {
		pix[4*i], pix[4*i+1], pix[4*i+2], pix[4*i+3] = rgb[3*i], rgb[3*i+1], rgb[3*i+2], 255
	}
	return img, nil
}
