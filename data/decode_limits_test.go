package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	fastjpeg "github.com/autotag/autotag/data/jpeg"
	"github.com/autotag/autotag/internal/jpegbomb"
)

// jpegNoLimits lifts every JPEG work limit.
var jpegNoLimits = fastjpeg.Limits{MaxScans: -1, CoefficientsPerSample: -1}

// TestDecodeJPEGWorkLimit: a scan bomb is refused with ErrTooMuchWork whatever its
// number of components (4 included, once left to image/jpeg), before the work is
// done.
func TestDecodeJPEGWorkLimit(t *testing.T) {
	for _, nComp := range []int{1, 3, 4} {
		data := jpegbomb.Scans(1024, 1024, nComp, 20000)
		start := time.Now()
		_, err := DecodeBytes(data, DecodeOptions{})
		if !errors.Is(err, ErrTooMuchWork) {
			t.Fatalf("%d components: %v, want ErrTooMuchWork", nComp, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%d components: refused after %v", nComp, d)
		}
	}
	// A handful of such scans is honest enough, and decodes.
	if _, err := DecodeBytes(jpegbomb.Scans(64, 64, 3, 3), DecodeOptions{}); err != nil {
		t.Fatalf("three scans: %v", err)
	}
}

// TestDecodeJPEGFourComponentsCancellable: a 4-component bomb with the limits
// lifted, the kind once handed whole to image/jpeg, stops at the context's
// deadline part way, like any other JPEG.
func TestDecodeJPEGFourComponentsCancellable(t *testing.T) {
	data := jpegbomb.Scans(1024, 1024, 4, 100000)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := DecodeBytes(data, DecodeOptions{Context: ctx, JPEGLimits: jpegNoLimits})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("4-component bomb under a deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("deadline honoured after %v", d)
	}
}

// TestDecodeContext: a done context stops every format before decoding, and a
// deadline stops a long JPEG decode (limits lifted) part way.
func TestDecodeContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, name := range []string{"png", "jpeg", "gif", "bmp", "tiff"} {
		b := encode(t, name, quadrants(64, 48))
		if _, err := DecodeBytes(b, DecodeOptions{Context: ctx}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", name, err)
		}
	}
	data := jpegbomb.Scans(1024, 1024, 1, 100000)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	lifted := DecodeOptions{Context: ctx, JPEGLimits: jpegNoLimits}
	start := time.Now()
	if _, err := DecodeBytes(data, lifted); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("bomb under a deadline: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("deadline honoured after %v", d)
	}
}

// allocDuring returns the bytes allocated while fn runs.
func allocDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeFileChecksBeforeReading: a file over the byte cap, or whose header
// announces more pixels than the cap, is refused before its body is read (a few
// kilobytes allocated for a 64 MB file), and an accepted file is read into one
// buffer of its size, not grown by doubling.
func TestDecodeFileChecksBeforeReading(t *testing.T) {
	dir := t.TempDir()
	sparse := func(name string, head []byte, size int64) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, head, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const big = 64 << 20
	png := encode(t, "png", quadrants(64, 48))
	huge := bytes.Clone(png)
	binary.BigEndian.PutUint32(huge[16:], 30000) // IHDR width and height
	binary.BigEndian.PutUint32(huge[20:], 30000)
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))

	var err error
	n := allocDuring(func() { _, err = DecodeFile(sparse("huge.png", huge, big), DecodeOptions{}) })
	if !errors.Is(err, ErrTooManyPixels) || n > 1<<20 {
		t.Errorf("30000x30000 header in a 64 MB file: %v after %d bytes allocated; want ErrTooManyPixels, little memory", err, n)
	}
	n = allocDuring(func() { _, err = DecodeFile(sparse("long.png", png, big), DecodeOptions{MaxBytes: 16 << 20}) })
	if !errors.Is(err, ErrInputTooLarge) || n > 1<<20 || !strings.Contains(err.Error(), "16.0 MB") {
		t.Errorf("64 MB file over a 16 MB cap: %v after %d bytes allocated; want ErrInputTooLarge naming the limit", err, n)
	}
	// A photo with 24 MB of trailing bytes (which decoders ignore) is read once.
	n = allocDuring(func() { _, err = DecodeFile(sparse("padded.png", png, 24<<20), DecodeOptions{}) })
	if err != nil || n > 30<<20 {
		t.Errorf("24 MB file: %v after %d MB allocated; want one 24 MB buffer", err, n>>20)
	}
	// Not a regular file: read as a stream, same checks.
	if _, err := Decode(io.MultiReader(bytes.NewReader(png)), DecodeOptions{}); err != nil {
		t.Errorf("stream: %v", err)
	}
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestDecodeStreamSniffsFirst: a stream that is no image (/dev/zero, or endless
// zeros from a pipe) is refused from its first bytes, not after reading and holding
// up to the byte cap (seconds of CPU and twice the cap in memory); a stream shorter
// than the sniffed prefix and an empty one still get their usual answers.
func TestDecodeStreamSniffsFirst(t *testing.T) {
	var err error
	n := allocDuring(func() { _, err = Decode(zeros{}, DecodeOptions{}) })
	if !errors.Is(err, ErrUnsupportedFormat) || n > 1<<20 {
		t.Errorf("endless zeros: %v after %d bytes allocated; want ErrUnsupportedFormat at once", err, n)
	}
	if _, serr := os.Stat("/dev/zero"); serr == nil {
		n = allocDuring(func() { _, err = DecodeFile("/dev/zero", DecodeOptions{}) })
		if !errors.Is(err, ErrUnsupportedFormat) || n > 1<<20 {
			t.Errorf("/dev/zero: %v after %d bytes allocated; want ErrUnsupportedFormat at once", err, n)
		}
	}
	tiny := encode(t, "png", quadrants(2, 2))
	if len(tiny) >= 512 {
		t.Fatalf("a %d-byte PNG is not short", len(tiny))
	}
	if _, err := Decode(io.MultiReader(bytes.NewReader(tiny)), DecodeOptions{}); err != nil {
		t.Errorf("%d-byte stream: %v", len(tiny), err)
	}
	if _, err := Decode(io.MultiReader(), DecodeOptions{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty stream: %v, want ErrEmpty", err)
	}
}

// TestDecodeFileTIFFHeaderAtEnd: a TIFF whose IFD sits at the end of a large file
// has its header checked by reading the file where the IFD is, not by buffering the
// whole file first and then reading it again for the body.
func TestDecodeFileTIFFHeaderAtEnd(t *testing.T) {
	const size = 48 << 20
	small := tiffBomb(64, 48, 3, 8, 8, 48, 0, deflated(64*48*3))
	ifd := binary.LittleEndian.Uint32(small[4:])
	moved := make([]byte, size)
	copy(moved, small[:ifd])
	copy(moved[size-(len(small)-int(ifd)):], small[ifd:])
	binary.LittleEndian.PutUint32(moved[4:], uint32(size-(len(small)-int(ifd))))
	p := filepath.Join(t.TempDir(), "late.tif")
	if err := os.WriteFile(p, moved, 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	n := allocDuring(func() { _, err = DecodeFile(p, DecodeOptions{}) })
	if err != nil {
		t.Fatalf("TIFF with its IFD at the end: %v", err)
	}
	if n > size+size/2 {
		t.Errorf("a %d MB file cost %d MB of allocations; want about one copy", size>>20, n>>20)
	}
}
