package serve

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/tinymodel"
)

// TestHeaderParsedOncePerUpload: the server reads each upload's header once, in
// checkUpload, and hands it down to the decode, whichever decoder is in use (the
// default, an engine's own Decoder, Config.Decode, a Tagger that takes the header),
// for one image or several.
func TestHeaderParsedOncePerUpload(t *testing.T) {
	raw := solidJPEG(t, 64, 48, color.RGBA{200, 10, 10, 255})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, name := range []string{"a.jpg", "b.jpg", "c.jpg"} {
		fw, err := mw.CreateFormFile("image", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(raw)
	}
	mw.Close()
	custom := func(r io.Reader, maxPixels int) (image.Image, error) {
		return data.Decode(r, data.DecodeOptions{MaxPixels: maxPixels, MaxBytes: -1})
	}
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := tinymodel.Write(path, []string{"a", "b", "c"}, "sigmoid"); err != nil {
		t.Fatal(err)
	}
	tagger, err := autotag.Open(context.Background(), path, autotag.WithBatchSize(4), autotag.WithThreshold(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tagger.Close() })
	for _, tc := range []struct {
		name string
		cfg  Config
		eng  Engine
	}{
		{"default", Config{}, &fakeEngine{}},
		{"engine decoder", Config{}, &decoderEngine{paint: color.NRGBA{250, 0, 0, 255}}},
		{"custom", Config{Decode: custom}, &fakeEngine{}},
		{"tagger", Config{}, tagger},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = quietLogger(t)
			s, err := New(tc.cfg, tc.eng)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.batch.close)
			var parses atomic.Int32
			parse := s.headerOf
			s.headerOf = func(b []byte) (data.Header, error) {
				parses.Add(1)
				return parse(b)
			}
			for _, req := range []struct {
				ct     string
				body   []byte
				images int32
			}{
				{"image/jpeg", raw, 1},
				{mw.FormDataContentType(), buf.Bytes(), 3},
			} {
				parses.Store(0)
				r := httptest.NewRequest(http.MethodPost, "http://localhost/v1/tag", bytes.NewReader(req.body))
				r.Header.Set("Content-Type", req.ct)
				w := httptest.NewRecorder()
				s.Handler().ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					t.Fatalf("%s: status %d: %s", req.ct, w.Code, w.Body)
				}
				if got := parses.Load(); got != req.images {
					t.Errorf("%s: %d header parses for %d images, want one each", req.ct, got, req.images)
				}
			}
		})
	}
}
