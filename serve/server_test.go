package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	red   = color.RGBA{230, 20, 20, 255}
	white = color.RGBA{255, 255, 255, 255}
)

func decodeJSON(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("Content-Type %q, body %q", ct, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestTagRawImage(t *testing.T) {
	_, ts := newTestServer(t, Config{}, nil)
	for _, ct := range []string{"image/jpeg", "application/x-image", "image/png", "application/octet-stream", "application/x-www-form-urlencoded"} {
		resp := post(t, ts.URL+"/v1/tag", ct, bytes.NewReader(solidJPEG(t, 64, 48, red)))
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s: status %d: %s", ct, resp.StatusCode, b)
		}
		id := resp.Header.Get("X-Request-Id")
		var got tagResponse
		decodeJSON(t, resp, &got)
		if got.Model != "fake-rgb" || got.RequestID != id || id == "" || len(got.Results) != 1 {
			t.Fatalf("%s: response %+v (X-Request-Id %q)", ct, got, id)
		}
		r := got.Results[0]
		if r.Width != 64 || r.Height != 48 || len(r.Tags) != 1 || r.Tags[0].Label != "red" || r.Tags[0].Score < 0.8 {
			t.Fatalf("%s: result %+v", ct, r)
		}
		if got.TimingMS.Total <= 0 || got.TimingMS.BatchSize != 1 {
			t.Fatalf("%s: timing %+v", ct, got.TimingMS)
		}
	}
}

func TestTagThresholdAndTopK(t *testing.T) {
	_, ts := newTestServer(t, Config{}, nil)
	body := solidPNG(t, 10, 10, color.RGBA{200, 150, 100, 255})
	cases := []struct {
		query  string
		labels []string
	}{
		{"", []string{"red", "green"}},
		{"?threshold=0.1", []string{"red", "green", "blue"}},
		{"?threshold=0.1&top_k=2", []string{"red", "green"}},
		{"?threshold=0.9", nil},
		{"?top_k=1", []string{"red"}},
	}
	for _, c := range cases {
		var got tagResponse
		decodeJSON(t, post(t, ts.URL+"/v1/tag"+c.query, "image/png", bytes.NewReader(body)), &got)
		var labels []string
		for _, tg := range got.Results[0].Tags {
			labels = append(labels, tg.Label)
		}
		if fmt.Sprint(labels) != fmt.Sprint(c.labels) {
			t.Errorf("%q: labels %v, want %v", c.query, labels, c.labels)
		}
		if got.Results[0].Tags == nil {
			t.Errorf("%q: tags is null, want []", c.query)
		}
	}
	for _, q := range []string{"?threshold=abc", "?threshold=1.5", "?threshold=-0.1", "?top_k=-1", "?top_k=x", "?threshold=NaN"} {
		resp := post(t, ts.URL+"/v1/tag"+q, "image/png", bytes.NewReader(body))
		var e errorBody
		decodeJSON(t, resp, &e)
		if resp.StatusCode != 400 || e.Error.Code != codeBadRequest {
			t.Errorf("%s: status %d %+v", q, resp.StatusCode, e)
		}
	}
}

// multipartBody builds a multipart/form-data body with the given (field, filename, data) parts.
func multipartBody(t testing.TB, parts ...[3]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p[1] != "" {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p[0], p[1]))
			h.Set("Content-Type", "image/jpeg")
		} else {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p[0]))
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(p[2]))
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestTagMultipart(t *testing.T) {
	_, ts := newTestServer(t, Config{BatchDelay: 20 * time.Millisecond, Workers: 1}, nil)
	ct, body := multipartBody(t,
		[3]string{"image", "red.jpg", string(solidJPEG(t, 30, 20, red))},
		[3]string{"note", "", "ignored field"},
		[3]string{"image", "blue.png", string(solidPNG(t, 8, 9, color.RGBA{0, 0, 250, 255}))},
	)
	var got tagResponse
	resp := post(t, ts.URL+"/v1/tag", ct, body)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	decodeJSON(t, resp, &got)
	if len(got.Results) != 2 {
		t.Fatalf("results %+v", got.Results)
	}
	if r := got.Results[0]; r.Name != "red.jpg" || r.Width != 30 || r.Tags[0].Label != "red" {
		t.Errorf("first %+v", r)
	}
	if r := got.Results[1]; r.Name != "blue.png" || r.Height != 9 || r.Tags[0].Label != "blue" {
		t.Errorf("second %+v", r)
	}
	if got.TimingMS.BatchSize != 2 {
		t.Errorf("the two images of one request ran in batches of %d, want 2", got.TimingMS.BatchSize)
	}
}

func TestBatchingGathersConcurrentRequests(t *testing.T) {
	eng := &fakeEngine{perBatch: 100 * time.Millisecond}
	_, ts := newTestServer(t, Config{MaxBatch: 8, BatchDelay: 10 * time.Millisecond, QueueSize: 64}, eng)
	body := solidJPEG(t, 16, 16, red)
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	total, biggest := 0, 0
	for _, b := range eng.batches {
		total += b
		biggest = max(biggest, b)
	}
	if total != 24 || biggest < 4 || biggest > 8 {
		t.Errorf("batches %v: want 24 images in batches of at most 8, some of at least 4", eng.batches)
	}
}

func TestQueueFullRefusesAtOnce(t *testing.T) {
	eng := &fakeEngine{perBatch: 600 * time.Millisecond}
	s, ts := newTestServer(t, Config{MaxBatch: 1, QueueSize: 2, BatchDelay: -1, Workers: 1}, eng)
	body := solidJPEG(t, 16, 16, red)
	// Fill: one running, two queued.
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
		}()
		time.Sleep(50 * time.Millisecond)
	}
	if d := s.batch.depth.Load(); d != 2 {
		t.Fatalf("queue depth %d, want 2", d)
	}
	start := time.Now()
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(body))
	took := time.Since(start)
	var e errorBody
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 503 || e.Error.Code != codeOverloaded || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d %+v Retry-After %q", resp.StatusCode, e, resp.Header.Get("Retry-After"))
	}
	if took > 300*time.Millisecond { // "at once": not after waiting for the 600-ms engine
		t.Errorf("refusal took %v; it waited for a slot", took)
	}
	wg.Wait()
}

func TestModelHealthReadyOpenAPI(t *testing.T) {
	s, ts := newTestServer(t, Config{}, nil)
	resp, err := http.Get(ts.URL + "/v1/model")
	if err != nil {
		t.Fatal(err)
	}
	var m modelResponse
	decodeJSON(t, resp, &m)
	if m.Name != "fake-rgb" || len(m.Classes) != 3 || m.MaxBatch != 8 {
		t.Errorf("model %+v", m)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/openapi.yaml": 200, "/metrics": 200, "/": 200,
		"/static/app.js": 200, "/static/style.css": 200, "/manifest.webmanifest": 200, "/sw.js": 200,
		"/nope": 404, "/static/": 404, "/static/nope.js": 404, "/v1/tags": 404} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d: %.200s", path, resp.StatusCode, want, b)
		}
		if want == 404 && !strings.Contains(string(b), `"not_found"`) {
			t.Errorf("GET %s: 404 body %q is not the JSON error", path, b)
		}
	}
	resp, _ = http.Get(ts.URL + "/v1/tag")
	var e errorBody
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 405 || e.Error.Code != codeMethodNotAllowed {
		t.Errorf("GET /v1/tag: %d %+v", resp.StatusCode, e)
	}
	s.ready.Store(false)
	resp, _ = http.Get(ts.URL + "/readyz")
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 503 || e.Error.Code != codeNotReady {
		t.Errorf("draining /readyz: %d %+v", resp.StatusCode, e)
	}
}

func TestMetricsCountRequests(t *testing.T) {
	_, ts := newTestServer(t, Config{}, nil)
	post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 8, 8, red))).Body.Close()
	post(t, ts.URL+"/v1/tag", "text/plain", strings.NewReader("hi")).Body.Close()
	resp, _ := http.Get(ts.URL + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`autotag_http_requests_total{code="200",route="/v1/tag"} 1`,
		`autotag_http_requests_total{code="415",route="/v1/tag"} 1`,
		`autotag_batch_size_count 1`, `autotag_queue_depth 0`, `autotag_images_total 1`,
		`autotag_http_request_duration_seconds_bucket`, `autotag_inference_duration_seconds_bucket`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	_, ts := newTestServer(t, Config{APIKeys: []string{"k1-secret", "k2-secret"}}, nil)
	body := solidJPEG(t, 8, 8, red)
	for auth, want := range map[string]int{"": 401, "Bearer nope": 401, "Basic k1-secret": 401, "Bearer k1-secret": 200, "bearer k2-secret": 200, "Bearer k1-secre": 401} {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/tag", bytes.NewReader(body))
		req.Header.Set("Content-Type", "image/jpeg")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%q: %d, want %d", auth, resp.StatusCode, want)
		}
		if want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: no WWW-Authenticate", auth)
		}
	}
	// Health, readiness, metrics and the page stay open.
	for _, p := range []string{"/healthz", "/readyz", "/", "/metrics"} {
		resp, _ := http.Get(ts.URL + p)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d without a key", p, resp.StatusCode)
		}
	}
}

func TestCheckBind(t *testing.T) {
	for _, c := range []struct {
		addr           string
		keys, insecure bool
		ok             bool
	}{
		{"127.0.0.1:8080", false, false, true},
		{"localhost:8080", false, false, true},
		{"[::1]:8080", false, false, true},
		{":8080", false, false, false},
		{"0.0.0.0:8080", false, false, false},
		{"192.168.1.5:80", false, false, false},
		{"0.0.0.0:8080", true, false, true},
		{"0.0.0.0:8080", false, true, true},
	} {
		if err := CheckBind(c.addr, c.keys, c.insecure); (err == nil) != c.ok {
			t.Errorf("CheckBind(%q, keys=%v, insecure=%v) = %v", c.addr, c.keys, c.insecure, err)
		}
	}
}

func TestCORS(t *testing.T) {
	_, ts := newTestServer(t, Config{CORSOrigins: []string{"https://ok.example"}}, nil)
	for origin, allowed := range map[string]bool{"https://ok.example": true, "https://evil.example": false, "https://ok.example.evil": false} {
		req, _ := http.NewRequest("OPTIONS", ts.URL+"/v1/tag", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if allowed && (resp.StatusCode != 204 || got != origin) || !allowed && got != "" {
			t.Errorf("%s: status %d, allow-origin %q", origin, resp.StatusCode, got)
		}
	}
	if _, err := New(Config{CORSOrigins: []string{"*"}}, &fakeEngine{}); err == nil {
		t.Error("CORS origin * accepted")
	}
	// Off by default.
	_, ts2 := newTestServer(t, Config{}, nil)
	req, _ := http.NewRequest("GET", ts2.URL+"/v1/model", nil)
	req.Header.Set("Origin", "https://ok.example")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Errorf("CORS on by default: %q", h)
	}
}

func TestRateLimit(t *testing.T) {
	_, ts := newTestServer(t, Config{RateLimit: 1, RateBurst: 3}, nil)
	codes := map[int]int{}
	var retry string
	for i := 0; i < 6; i++ {
		resp, _ := http.Get(ts.URL + "/v1/model")
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 {
			retry = resp.Header.Get("Retry-After")
		}
	}
	if codes[200] != 3 || codes[429] != 3 || retry == "" {
		t.Errorf("codes %v, Retry-After %q; want 3×200 then 3×429", codes, retry)
	}
	resp, _ := http.Get(ts.URL + "/healthz")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz rate limited: %d", resp.StatusCode)
	}
}

func TestRateLimiterRefills(t *testing.T) {
	l := newRateLimiter(10, 2)
	now := time.Unix(0, 0)
	for i, want := range []bool{true, true, false} {
		if _, ok := l.allow("a", now); ok != want {
			t.Fatalf("take %d: %v", i, ok)
		}
	}
	if _, ok := l.allow("b", now); !ok {
		t.Fatal("clients share a bucket")
	}
	if _, ok := l.allow("a", now.Add(100*time.Millisecond)); !ok {
		t.Fatal("no refill after 100ms at 10/s")
	}
	l.allow("a", now.Add(2*time.Minute))
	if len(l.buckets) != 1 {
		t.Errorf("idle buckets not swept: %d", len(l.buckets))
	}
}

func TestRequestIDEchoedAndLogged(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	lw := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(b) })
	log := slogJSON(lw)
	_, ts := newTestServer(t, Config{Logger: log}, nil)
	req, _ := http.NewRequest("POST", ts.URL+"/v1/tag", strings.NewReader("not an image"))
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set("X-Request-Id", "abc-123")
	resp, _ := http.DefaultClient.Do(req)
	var e errorBody
	decodeJSON(t, resp, &e)
	if resp.Header.Get("X-Request-Id") != "abc-123" || e.Error.RequestID != "abc-123" {
		t.Errorf("request id not echoed: %q %+v", resp.Header.Get("X-Request-Id"), e)
	}
	req, _ = http.NewRequest("POST", ts.URL+"/v1/tag", strings.NewReader("not an image"))
	req.Header.Set("Content-Type", "image/jpeg")
	req.Header.Set("X-Request-Id", "bad id with <script>")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id := resp.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("unsafe request id kept: %q", id)
	}
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	n := 0
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if rec["request_id"] == "abc-123" {
			n++
		}
	}
	if n < 2 {
		t.Errorf("want the error line and the access line with the request id, got %d in:\n%s", n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestEnginePanicIs500(t *testing.T) {
	eng := &fakeEngine{}
	eng.panicOn.Store(true)
	_, ts := newTestServer(t, Config{}, eng)
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 8, 8, red)))
	var e errorBody
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 500 || e.Error.Code != codeInternal || strings.Contains(e.Error.Message, "exploded") {
		t.Errorf("%d %+v", resp.StatusCode, e)
	}
	eng.panicOn.Store(false)
	resp = post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 8, 8, red)))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("server did not recover: %d", resp.StatusCode)
	}
}

func TestReload(t *testing.T) {
	next := &fakeEngine{name: "second"}
	fail := false
	old := &fakeEngine{}
	s, ts := newTestServer(t, Config{Reload: func(ctx context.Context) (Engine, error) {
		if fail {
			return nil, errors.New("weights file is corrupt")
		}
		return next, nil
	}}, old)
	if err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got tagResponse
	decodeJSON(t, post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 8, 8, red))), &got)
	if got.Model != "second" {
		t.Errorf("model after reload %q", got.Model)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !old.closed.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !old.closed.Load() {
		t.Error("replaced engine not closed")
	}
	fail = true
	if err := s.Reload(context.Background()); err == nil {
		t.Fatal("failed reload returned nil")
	}
	decodeJSON(t, post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 8, 8, red))), &got)
	if got.Model != "second" || next.closed.Load() {
		t.Errorf("failed reload lost the model: %q closed=%v", got.Model, next.closed.Load())
	}
}

func TestRequestDeadline(t *testing.T) {
	eng := &fakeEngine{perBatch: 300 * time.Millisecond}
	_, ts := newTestServer(t, Config{RequestTimeout: 50 * time.Millisecond}, eng)
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 8, 8, red)))
	var e errorBody
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 504 || e.Error.Code != codeTimeout {
		t.Errorf("%d %+v", resp.StatusCode, e)
	}
}

var _ = image.Rect

func TestMaxQueueWaitRefusesSlowBacklog(t *testing.T) {
	eng := &fakeEngine{perImage: 100 * time.Millisecond}
	s, _ := newTestServer(t, Config{MaxBatch: 1, QueueSize: 100, MaxQueueWait: 250 * time.Millisecond, Workers: 1}, eng)
	b := s.batch
	b.observe(100*time.Millisecond, 1)
	for i := 0; i < 3; i++ { // one starts at once, then 200ms of backlog
		if err := b.admit(1); err != nil {
			t.Fatalf("admit %d: %v", i, err)
		}
	}
	if err := b.admit(1); !errors.Is(err, errQueueFull) {
		t.Fatalf("admit with 300ms expected wait: %v, want errQueueFull", err)
	}
	b.unreserve(3)
}
