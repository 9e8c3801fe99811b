package data

import (
	"context"
	"errors"
	"testing"
	"time"

	fastjpeg "github.com/autotag/autotag/data/jpeg"
	"github.com/autotag/autotag/internal/jpegbomb"
)

// jpegNoLimits lifts every JPEG work limit.
var jpegNoLimits = fastjpeg.Limits{MaxScans: -1, CoefficientsPerSample: -1}

// TestDecodeJPEGWorkLimit: a scan bomb is refused with ErrTooMuchWork, both when
// data/jpeg decodes it and when it would go to image/jpeg (4 components), before
// the work is done.
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
