package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autotag/autotag/data"
	fastjpeg "github.com/autotag/autotag/data/jpeg"
	"github.com/autotag/autotag/internal/jpegbomb"
)

// TestScanBombUpload: a progressive JPEG of thousands of scans over a large frame,
// a few hundred kilobytes that would take minutes to decode, gets a 422 naming the
// reason at once, from the default decoder and for a 4-component file that goes to
// image/jpeg; the decode slot is free again afterwards.
func TestScanBombUpload(t *testing.T) {
	s, ts := newTestServer(t, Config{}, nil)
	for _, nComp := range []int{3, 4} {
		raw := jpegbomb.Scans(1024, 1024, nComp, 20000)
		start := time.Now()
		resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(raw))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "decoding work") {
			t.Fatalf("%d components: status %d %s, want 422 about decoding work", nComp, resp.StatusCode, body)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%d components: answered after %v", nComp, d)
		}
	}
	if n := len(s.decoders); n != 0 {
		t.Errorf("%d decode slots still held", n)
	}
}

// ctxDecoderEngine decodes with the request's context and the JPEG work limits
// lifted, so that only the context can stop a long decode.
type ctxDecoderEngine struct {
	fakeEngine
	stopped atomic.Int32
}

func (e *ctxDecoderEngine) DecodeBytes(b []byte) (image.Image, error) {
	return e.DecodeBytesContext(context.Background(), b)
}

func (e *ctxDecoderEngine) DecodeBytesContext(ctx context.Context, b []byte) (image.Image, error) {
	img, err := data.DecodeBytes(b, data.DecodeOptions{Context: ctx,
		JPEGLimits: fastjpeg.Limits{MaxScans: -1, CoefficientsPerSample: -1}})
	if ctx.Err() != nil {
		e.stopped.Add(1)
	}
	return img, err
}

// TestDecodeStopsAtDeadline: the request's deadline reaches the engine's decoder,
// which stops part way; the client gets a 504 soon after the deadline and the
// decode slot is free again.
func TestDecodeStopsAtDeadline(t *testing.T) {
	e := &ctxDecoderEngine{}
	s, ts := newTestServer(t, Config{RequestTimeout: 200 * time.Millisecond}, e)
	raw := jpegbomb.Scans(1024, 1024, 1, 200000)
	start := time.Now()
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(raw))
	defer resp.Body.Close()
	var got struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&got)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d (%s), want 504", resp.StatusCode, got.Error.Code)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("answered after %v", d)
	}
	if e.stopped.Load() != 1 {
		t.Errorf("the decoder was not stopped by the request's context")
	}
	if n := len(s.decoders); n != 0 {
		t.Errorf("%d decode slots still held", n)
	}
}
