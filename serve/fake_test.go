package serve

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEngine scores three classes from an image's mean colour: "red", "green",
// "blue" get the mean of their channel. Each batch costs perBatch + perImage×n of
// sleep, to model an engine whose batches amortise a fixed cost.
type fakeEngine struct {
	name      string
	perBatch  time.Duration
	perImage  time.Duration
	panicOn   atomic.Bool
	mu        sync.Mutex
	batches   []int
	closed    atomic.Bool
	inflight  atomic.Int32
	maxFlight atomic.Int32
}

func (f *fakeEngine) Probabilities(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	if f.panicOn.Load() {
		panic("fake engine exploded")
	}
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxFlight.Load()
		if n <= m || f.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.batches = append(f.batches, len(imgs))
	f.mu.Unlock()
	time.Sleep(f.perBatch + time.Duration(len(imgs))*f.perImage)
	out := make([][]float32, len(imgs))
	for i, img := range imgs {
		out[i] = meanRGB(img)
	}
	return out, nil
}

func meanRGB(img image.Image) []float32 {
	b := img.Bounds()
	var r, g, bl float64
	step := max(1, b.Dx()/16, b.Dy()/16)
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y += step {
		for x := b.Min.X; x < b.Max.X; x += step {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			r += float64(c.R)
			g += float64(c.G)
			bl += float64(c.B)
			n++
		}
	}
	d := 255 * float64(n)
	return []float32{float32(r / d), float32(g / d), float32(bl / d)}
}

func (f *fakeEngine) Select(probs []float32, sel Selection) []Tag {
	th := 0.5
	if sel.Threshold != nil {
		th = *sel.Threshold
	}
	labels := []string{"red", "green", "blue"}
	var tags []Tag
	for i, p := range probs {
		if float64(p) >= th {
			tags = append(tags, Tag{Label: labels[i], Score: float64(p)})
		}
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Score > tags[j].Score })
	if sel.TopK > 0 && len(tags) > sel.TopK {
		tags = tags[:sel.TopK]
	}
	return tags
}

func (f *fakeEngine) Info() ModelInfo {
	name := f.name
	if name == "" {
		name = "fake-rgb"
	}
	return ModelInfo{Name: name, Arch: "fake", Activation: "sigmoid", InputSize: 224, Classes: []string{"red", "green", "blue"}}
}

func (f *fakeEngine) Close() error { f.closed.Store(true); return nil }

// quietLogger discards logs unless -v.
func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(NewLogHandler(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// newTestServer starts a server with a fake engine behind httptest.
func newTestServer(t testing.TB, cfg Config, eng Engine) (*Server, *httptest.Server) {
	t.Helper()
	if eng == nil {
		eng = &fakeEngine{}
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger(t)
	}
	s, err := New(cfg, eng)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.batch.close() })
	return s, ts
}

// solidJPEG encodes a w×h JPEG of one colour.
func solidJPEG(t testing.TB, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Set(i%w, i/w, c)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// solidPNG encodes a w×h PNG of one colour.
func solidPNG(t testing.TB, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Set(i%w, i/w, c)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// post sends body to url with content type ct.
func post(t testing.TB, url, ct string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(NewLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
}
