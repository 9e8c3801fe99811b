package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode"
)

// fuzzServer is shared by the fuzz targets' iterations. It logs nowhere: logging
// through f from inside a fuzz target panics ("f.Log was called inside the fuzz
// target"), and the iterations' logs would drown the failure anyway. It answers
// httptest.NewRequest's default Host.
func fuzzServer(t testing.TB) *Server {
	s, err := New(Config{MaxBodyBytes: 1 << 20, MaxPixels: 1 << 20, DecodeBudgetBytes: 64 << 20, BatchDelay: -1,
		AllowedHosts: []string{"example.com"}, Logger: slog.New(slog.DiscardHandler)}, &fakeEngine{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.batch.close)
	return s
}

// checkUploadResponse fails on a 5xx or a body that is not the documented JSON.
func checkUploadResponse(t *testing.T, rec *httptest.ResponseRecorder) {
	switch rec.Code {
	case 200:
		var r tagResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || len(r.Results) == 0 {
			t.Fatalf("200 with body %q: %v", rec.Body.Bytes(), err)
		}
		for _, res := range r.Results {
			if len(res.Name) > maxNameBytes+len("…") || strings.ContainsFunc(res.Name, func(c rune) bool { return unicode.IsControl(c) }) {
				t.Fatalf("result name %q is long or has control characters", res.Name)
			}
		}
	case 400, 413, 415, 422:
		var e errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%d with body %q: %v", rec.Code, rec.Body.Bytes(), err)
		}
	default:
		t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
	}
}

// FuzzTagRaw posts arbitrary bytes as a raw image body: every answer must be a 200
// with tags or a 4xx JSON error; never a panic, a 5xx or a hang.
func FuzzTagRaw(f *testing.F) {
	for _, c := range hostileCases(f) {
		if len(c.body) < 64<<10 && c.ct != "" && c.ct[:5] == "image" {
			f.Add(c.body)
		}
	}
	f.Add(solidJPEG(f, 8, 8, red))
	f.Add(solidPNG(f, 3, 5, red))
	f.Add(webpBomb())
	s := fuzzServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/tag", bytes.NewReader(body))
		req.Header.Set("Content-Type", "image/jpeg")
		rec := httptest.NewRecorder()
		stop := watchdog(body)
		h.ServeHTTP(rec, req)
		stop()
		checkUploadResponse(t, rec)
	})
}

// FuzzTagMultipart posts an arbitrary multipart body (fixed boundary) and query.
func FuzzTagMultipart(f *testing.F) {
	ct, body := multipartBody(f, [3]string{"image", "a.jpg", string(solidJPEG(f, 8, 8, red))}, [3]string{"x", "", "y"})
	boundary := ct[len("multipart/form-data; boundary="):]
	f.Add(body.Bytes(), "threshold=0.3&top_k=2")
	_, many := manyParts(40)
	f.Add(bytes.ReplaceAll(many, []byte("XX"), []byte(boundary)), "")
	f.Add([]byte("--"+boundary+"\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n\x89PNG\r\n\x1a\n\r\n--"+boundary+"--\r\n"), "threshold=")
	f.Add([]byte("--"+boundary+"\r\nContent-Disposition: form-data; name=\"image\"; filename*=utf-8''%2E%2E%2F%0A%1B%5B2J%E2%80%AEx\r\n\r\n"+string(solidPNG(f, 2, 2, red))+"\r\n--"+boundary+"--\r\n"), "threshold=NaN&top_k=99999999999&threshold=1e309")
	s := fuzzServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/tag", bytes.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkUploadResponse(t, rec)
	})
}

// watchdog dumps all goroutines and exits if one fuzz input takes over 5 s.
func watchdog(input []byte) (stop func()) {
	t := time.AfterFunc(5*time.Second, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		os.WriteFile("/tmp/fuzz-hang.txt", append([]byte(fmt.Sprintf("input %q\n", input)), buf[:n]...), 0o644)
		os.Exit(3)
	})
	return func() { t.Stop() }
}

// FuzzHostPolicy: for any Host header, a loopback-bound server without an allow
// list answers only loopback names and loopback addresses, and never panics.
func FuzzHostPolicy(f *testing.F) {
	for _, h := range []string{"localhost:8080", "127.0.0.1", "[::1]:80", "evil.example", "127.0.0.1.evil.example",
		"LOCALHOST.", "[::ffff:127.0.0.1]", "0x7f.1", "127.1", "a.localhost", "", ":80", "[", "localhost:",
		"127.0.0.1:8080@evil.example", "[::1]:+80", "localhost:99999"} {
		f.Add(h)
	}
	p, err := newHostPolicy("127.0.0.1:8080", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !p.allows(host) || host == "" {
			return
		}
		if _, port, err := net.SplitHostPort(host); err == nil && !validPort(port) {
			t.Fatalf("Host %q with port %q allowed", host, port)
		}
		h := canonicalHost(host)
		ip := net.ParseIP(h)
		if h != "localhost" && !strings.HasSuffix(h, ".localhost") && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("Host %q (%q) allowed", host, h)
		}
	})
}
