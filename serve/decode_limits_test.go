package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
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
// reason at once, from the default decoder, for 3 and 4 components (a CMYK file
// once went to image/jpeg); the decode slot is free again afterwards.
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

// TestCustomDecodeGetsRequestContext: a Config.Decode function reads the request's
// context through RequestContext; with the JPEG work limits lifted only that
// context stops its decode of a bomb, and the client gets a 504 soon after the
// deadline with the decode slot free again. Outside the server RequestContext is
// context.Background().
func TestCustomDecodeGetsRequestContext(t *testing.T) {
	var stopped atomic.Int32
	decode := func(r io.Reader, maxPixels int) (image.Image, error) {
		ctx := RequestContext(r)
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no request deadline reached the decoder")
		}
		img, err := data.Decode(r, data.DecodeOptions{MaxPixels: maxPixels, MaxBytes: -1, Context: ctx,
			JPEGLimits: fastjpeg.Limits{MaxScans: -1, CoefficientsPerSample: -1}})
		if ctx.Err() != nil {
			stopped.Add(1)
		}
		return img, err
	}
	s, ts := newTestServer(t, Config{RequestTimeout: 200 * time.Millisecond, Decode: decode}, nil)
	start := time.Now()
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(jpegbomb.Scans(1024, 1024, 4, 200000)))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d (%s), want 504", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("answered after %v", d)
	}
	if stopped.Load() != 1 {
		t.Errorf("the custom decoder was not stopped by the request's context")
	}
	if n := len(s.decoders); n != 0 {
		t.Errorf("%d decode slots still held", n)
	}
	// An honest upload still decodes through the custom function.
	resp = post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 64, 48, color.RGBA{0, 0, 250, 255})))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("honest upload: status %d", resp.StatusCode)
	}
	if ctx := RequestContext(strings.NewReader("x")); ctx != context.Background() {
		t.Errorf("RequestContext of a plain reader: %v, want context.Background()", ctx)
	}
}
