package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// dialRaw opens a TCP connection to addr, closed when the test ends.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func hostOf(ts *httptest.Server) string { return ts.Listener.Addr().String() }

// TestSlowBodiesDoNotTakeQueueSlots: clients that dribble their bodies a byte at a
// time hold no queue slot, so other requests are still served (defect 2).
func TestSlowBodiesDoNotTakeQueueSlots(t *testing.T) {
	_, ts := newTestServer(t, Config{MaxBatch: 1, Workers: 1, QueueSize: 2, MaxQueueWait: -1}, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for i := 0; i < 8; i++ {
		conn := dialRaw(t, hostOf(ts))
		fmt.Fprintf(conn, "POST /v1/tag HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff", hostOf(ts))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{0}); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	img := solidJPEG(t, 16, 16, red)
	for i := 0; i < 3; i++ {
		resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(img))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d beside 8 slow uploads: %d %s", i, resp.StatusCode, b)
		}
	}
}

// TestSlowBodyCutAtMinimumRate: a body slower than MinBodyRate after BodyGrace gets
// 408 long before ReadTimeout.
func TestSlowBodyCutAtMinimumRate(t *testing.T) {
	_, addr := serveConnTest(t, Config{BodyGrace: 300 * time.Millisecond, MinBodyRate: 1000})
	conn := dialRaw(t, addr)
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff\xd8")
	go func() {
		for i := 0; i < 100; i++ {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a slow body after %v: %v", time.Since(start), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || time.Since(start) > 3*time.Second {
		t.Errorf("status %d after %v, want 408 within about a second", resp.StatusCode, time.Since(start))
	}
}

// TestDeclaredOversizeRefusedAtOnce: a Content-Length over the limit gets 413 before
// anything is read: no `100 Continue`, no wait for the body (defect 2).
func TestDeclaredOversizeRefusedAtOnce(t *testing.T) {
	_, ts := newTestServer(t, Config{MaxBodyBytes: 1 << 20}, nil)
	for _, expect := range []bool{true, false} {
		conn := dialRaw(t, hostOf(ts))
		head := fmt.Sprintf("POST /v1/tag HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: 99999999999\r\n", hostOf(ts))
		if expect {
			head += "Expect: 100-continue\r\n"
		}
		fmt.Fprint(conn, head+"\r\n")
		if !expect {
			conn.Write(make([]byte, 4096))
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("expect=%v: %v", expect, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "payload_too_large") {
			t.Errorf("expect=%v: status %d %s, want 413 at once", expect, resp.StatusCode, body)
		}
	}
}

// TestOversizeBodyAnswered413NotReset: a client still sending its oversize body
// (more than the sockets buffer) when the server has answered can finish sending
// and then read the 413, instead of a connection reset in the middle of its send
// (which is what curl reports), whether the length was declared or the body was
// chunked (defect 12, server half).
func TestOversizeBodyAnswered413NotReset(t *testing.T) {
	_, ts := newTestServer(t, Config{MaxBodyBytes: 256 << 10}, nil)
	body := bytes.Repeat([]byte{0xff}, 32<<20)
	for _, chunked := range []bool{false, true} {
		for i := 0; i < 2; i++ {
			conn := dialRaw(t, hostOf(ts))
			var req bytes.Buffer
			fmt.Fprintf(&req, "POST /v1/tag HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\n", hostOf(ts))
			if chunked {
				req.WriteString("Transfer-Encoding: chunked\r\n\r\n")
				for off := 0; off < len(body); off += 32 << 10 {
					fmt.Fprintf(&req, "%x\r\n%s\r\n", 32<<10, body[off:off+32<<10])
				}
				req.WriteString("0\r\n\r\n")
			} else {
				fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n", len(body))
				req.Write(body)
			}
			conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			wrote := make(chan error, 1)
			go func() { _, err := conn.Write(req.Bytes()); wrote <- err }()
			// Read only once the server had time to close: a reset then loses the answer.
			time.Sleep(700 * time.Millisecond)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("chunked=%v try %d: no answer: %v", chunked, i, err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(got), "payload_too_large") {
				t.Errorf("chunked=%v try %d: %d %s %v, want a whole 413", chunked, i, resp.StatusCode, got, err)
			}
			if err := <-wrote; err != nil {
				t.Errorf("chunked=%v try %d: sending the body failed: %v", chunked, i, err)
			}
		}
	}
}

// nanEngine answers NaN for every class.
type nanEngine struct {
	fakeEngine
	empty bool
}

func (e *nanEngine) Probabilities(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	out := make([][]float32, len(imgs))
	for i := range out {
		if !e.empty {
			nan := float32(math.NaN())
			out[i] = []float32{nan, nan, nan}
		}
	}
	return out, nil
}

// nanSelectEngine has fine probabilities but selects a NaN score.
type nanSelectEngine struct{ fakeEngine }

func (e *nanSelectEngine) Select(probs []float32, sel Selection) []Tag {
	return []Tag{{Label: "red", Score: math.NaN()}}
}

// TestNonFiniteEngineGets500: an engine answering NaN or nothing gets the client a
// JSON 500 and an error in the log, never an empty 200 (defect 3).
func TestNonFiniteEngineGets500(t *testing.T) {
	for name, eng := range map[string]Engine{
		"nan": &nanEngine{}, "empty": &nanEngine{empty: true}, "nan-select": &nanSelectEngine{},
	} {
		t.Run(name, func(t *testing.T) {
			var logs syncBuffer
			_, ts := newTestServer(t, Config{Logger: slogJSON(&logs)}, eng)
			resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 16, 16, red)))
			var e errorBody
			decodeJSON(t, resp, &e)
			if resp.StatusCode != http.StatusInternalServerError || e.Error.Code != codeInternal {
				t.Errorf("status %d %+v, want 500 internal", resp.StatusCode, e)
			}
			if !strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("nothing logged at error level:\n%s", logs.String())
			}
		})
	}
}

// TestReloadRefusesNaNModel: a reload whose model computes NaN is refused and
// logged, and the old model keeps serving (defect 3).
func TestReloadRefusesNaNModel(t *testing.T) {
	var logs syncBuffer
	bad := &nanEngine{}
	s, ts := newTestServer(t, Config{Logger: slogJSON(&logs), Reload: func(context.Context) (Engine, error) { return bad, nil }}, nil)
	if err := s.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "probability") {
		t.Fatalf("reload of a NaN model: %v, want a refusal", err)
	}
	if !strings.Contains(logs.String(), "model reload failed") {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
	if !bad.closed.Load() {
		t.Error("the refused engine was not closed")
	}
	resp := post(t, ts.URL+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 16, 16, red)))
	var r tagResponse
	decodeJSON(t, resp, &r)
	if resp.StatusCode != http.StatusOK || r.Model != "fake-rgb" {
		t.Errorf("after the refused reload: %d model %q", resp.StatusCode, r.Model)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestHostHeaderChecked: only our own names and addresses are answered unless
// AllowedHosts lists more, so DNS rebinding reaches nothing (defect 8).
func TestHostHeaderChecked(t *testing.T) {
	get := func(ts *httptest.Server, host string) int {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v1/model", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	_, ts := newTestServer(t, Config{}, nil)
	for host, want := range map[string]int{
		hostOf(ts): 200, "localhost:8080": 200, "LOCALHOST": 200, "[::1]:9": 200, "127.0.0.2": 200,
		"rebind.attacker.example:8080": 403, "192.168.1.20": 403, "localhost.attacker.example": 403,
		"localhost:80x": 403,
	} {
		if got := get(ts, host); got != want {
			t.Errorf("Host %q: status %d, want %d", host, got, want)
		}
	}
	_, ts = newTestServer(t, Config{AllowedHosts: []string{"photos.lan"}}, nil)
	if got := get(ts, "Photos.LAN:8080"); got != 200 {
		t.Errorf("allowed host: %d", got)
	}
	if got := get(ts, "other.lan"); got != 403 {
		t.Errorf("other host with an allow list: %d", got)
	}
	_, ts = newTestServer(t, Config{AllowedHosts: []string{"*"}}, nil)
	if got := get(ts, "anything.example"); got != 200 {
		t.Errorf("\"*\": %d", got)
	}
	// Bound to all interfaces: IP literals are fine, names still are not.
	p, err := newHostPolicy("0.0.0.0:8080", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !p.allows("192.168.1.20:8080") || p.allows("nas.attacker.example") {
		t.Error("wildcard bind: want IP literals allowed and names refused")
	}
	if _, err := newHostPolicy("127.0.0.1:8080", []string{"https://x.example/"}); err == nil {
		t.Error("a URL in the allowed hosts was accepted")
	}
}

// TestCrossSitePostRefused: a browser's cross-site form post is refused unless its
// origin is allowed with CORSOrigins; same-origin and non-browser posts pass
// (defect 8).
func TestCrossSitePostRefused(t *testing.T) {
	img := solidJPEG(t, 16, 16, red)
	do := func(ts *httptest.Server, hdr map[string]string) int {
		ct, body := multipartBody(t, [3]string{"image", "a.jpg", string(img)})
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/tag", body)
		req.Header.Set("Content-Type", ct)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	evil := "https://evil.example"
	_, ts := newTestServer(t, Config{}, nil)
	for name, c := range map[string]struct {
		hdr  map[string]string
		want int
	}{
		"cross-site fetch": {map[string]string{"Origin": evil, "Sec-Fetch-Site": "cross-site"}, 403},
		"old browser":      {map[string]string{"Origin": evil}, 403},
		"same-site":        {map[string]string{"Origin": "http://sub." + hostOf(ts), "Sec-Fetch-Site": "same-site"}, 403},
		"same-origin":      {map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"}, 200},
		"curl":             {nil, 200},
	} {
		if got := do(ts, c.hdr); got != c.want {
			t.Errorf("%s: status %d, want %d", name, got, c.want)
		}
	}
	_, ts = newTestServer(t, Config{CORSOrigins: []string{evil}}, nil)
	if got := do(ts, map[string]string{"Origin": evil, "Sec-Fetch-Site": "cross-site"}); got != 200 {
		t.Errorf("allowed origin: %d", got)
	}
}

// pathEngine reports local paths in its info.
type pathEngine struct{ fakeEngine }

func (e *pathEngine) Info() ModelInfo {
	i := e.fakeEngine.Info()
	i.Path, i.Source = "/home/someone/models/secret.safetensors", "/home/someone/imports/x.pth"
	return i
}

// TestModelInfoHidesLocalPaths: /v1/model names no local file (defect 8).
func TestModelInfoHidesLocalPaths(t *testing.T) {
	_, ts := newTestServer(t, Config{}, &pathEngine{})
	resp, err := http.Get(ts.URL + "/v1/model")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(b), "/home") || !strings.Contains(string(b), `"source":"x.pth"`) {
		t.Errorf("/v1/model: %d %s", resp.StatusCode, b)
	}
}

// TestFailedKeysRateLimited: after AuthFailures wrong keys a client gets 429, even
// with the right key, while other clients are unaffected (defect 9).
func TestFailedKeysRateLimited(t *testing.T) {
	s, _ := newTestServer(t, Config{APIKeys: []string{"right"}, AuthFailures: 3}, nil)
	h := s.Handler()
	do := func(ip, key string) int {
		req := httptest.NewRequest(http.MethodGet, "/v1/model", nil)
		req.Host = "localhost"
		req.RemoteAddr = ip + ":1234"
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := 0; i < 3; i++ {
		if got := do("10.0.0.1", "guess"+fmt.Sprint(i)); got != 401 {
			t.Fatalf("failure %d: %d, want 401", i, got)
		}
	}
	if got := do("10.0.0.1", "guess3"); got != 429 {
		t.Errorf("fourth failure: %d, want 429", got)
	}
	if got := do("10.0.0.1", "right"); got != 429 {
		t.Errorf("right key from a blocked client: %d, want 429 (no oracle)", got)
	}
	if got := do("10.0.0.1", ""); got != 429 {
		t.Errorf("no key from a blocked client: %d, want 429", got)
	}
	if got := do("10.0.0.2", "right"); got != 200 {
		t.Errorf("another client: %d, want 200", got)
	}
}

// TestSideLimitNamed: a 1,000,000×1 image is refused for its side, and the message
// says so (defect 10).
func TestSideLimitNamed(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1_000_000, 1))); err != nil {
		t.Fatal(err)
	}
	_, ts := newTestServer(t, Config{}, nil)
	resp := post(t, ts.URL+"/v1/tag", "image/png", &buf)
	var e errorBody
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 413 || !strings.Contains(e.Error.Message, "side") || !strings.Contains(e.Error.Message, fmt.Sprint(maxSide)) ||
		strings.Contains(e.Error.Message, "pixels, more than") {
		t.Errorf("%d %q, want 413 naming the side limit", resp.StatusCode, e.Error.Message)
	}
}

// TestMetricsAuth: with MetricsAuth, /metrics needs the key; without keys it is a
// configuration error.
func TestMetricsAuth(t *testing.T) {
	_, ts := newTestServer(t, Config{APIKeys: []string{"k"}, MetricsAuth: true}, nil)
	for key, want := range map[string]int{"": 401, "k": 200} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/metrics", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("key %q: %d, want %d", key, resp.StatusCode, want)
		}
	}
	if _, err := New(Config{MetricsAuth: true}, &fakeEngine{}); err == nil {
		t.Error("MetricsAuth without keys accepted")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key as PEM
// files and returns their paths and the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "autotag test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, cert
}

// TestTLS: with a certificate and key the server answers HTTPS; one without the
// other, or unreadable files, are clear errors that do not print the files.
func TestTLS(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t)
	_, addr := serveConnTest(t, Config{TLSCertFile: certFile, TLSKeyFile: keyFile})
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, h2 := range []bool{false, true} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}}
		resp, err := client.Post("https://"+addr+"/v1/tag", "image/jpeg", bytes.NewReader(solidJPEG(t, 16, 16, red)))
		if err != nil {
			t.Fatal(err)
		}
		var r tagResponse
		decodeJSON(t, resp, &r)
		if resp.StatusCode != 200 || resp.TLS == nil || len(r.Results) != 1 || h2 != (resp.ProtoMajor == 2) {
			t.Errorf("HTTPS tag (HTTP/2 %v): %d %s tls=%v %+v", h2, resp.StatusCode, resp.Proto, resp.TLS != nil, r)
		}
	}

	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("SECRET-CONTENTS not a certificate"), 0o644)
	for name, c := range map[string]struct {
		cert, key, want string
	}{
		"cert only":   {certFile, "", "--tls-key"},
		"key only":    {"", keyFile, "--tls-cert"},
		"bad cert":    {garbage, keyFile, garbage},
		"missing key": {certFile, filepath.Join(t.TempDir(), "nope.pem"), "nope.pem"},
		"swapped":     {keyFile, certFile, "certificate"},
	} {
		_, err := New(Config{TLSCertFile: c.cert, TLSKeyFile: c.key}, &fakeEngine{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
}

// TestRoundedNumbers: scores carry at most 4 decimals and timings at most 2.
func TestRoundedNumbers(t *testing.T) {
	_, ts := newTestServer(t, Config{}, nil)
	resp := post(t, ts.URL+"/v1/tag?threshold=0", "image/jpeg", bytes.NewReader(solidJPEG(t, 16, 16, red)))
	var raw struct {
		Results []struct {
			Tags []struct {
				Score json.Number `json:"score"`
			} `json:"tags"`
		} `json:"results"`
		Timing map[string]json.Number `json:"timing_ms"`
	}
	decodeJSON(t, resp, &raw)
	decimals := func(n json.Number) int {
		_, frac, ok := strings.Cut(n.String(), ".")
		if !ok {
			return 0
		}
		return len(frac)
	}
	if len(raw.Results) != 1 || len(raw.Results[0].Tags) == 0 {
		t.Fatalf("no tags: %+v", raw)
	}
	for _, tg := range raw.Results[0].Tags {
		if decimals(tg.Score) > 4 {
			t.Errorf("score %s has more than 4 decimals", tg.Score)
		}
	}
	for k, v := range raw.Timing {
		if decimals(v) > 2 {
			t.Errorf("timing %s = %s has more than 2 decimals", k, v)
		}
	}
}

// TestMultipartPreambleCounts: every byte of a multipart body counts against the
// body limit, not only the parts' contents: a huge preamble gets 413.
func TestMultipartPreambleCounts(t *testing.T) {
	_, ts := newTestServer(t, Config{MaxBodyBytes: 256 << 10}, nil)
	body := append(bytes.Repeat([]byte("preamble\r\n"), 100_000), "\r\n--B\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc\r\n--B--\r\n"...)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/tag", io.MultiReader(bytes.NewReader(body))) // chunked: no declared length
	req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e errorBody
	decodeJSON(t, resp, &e)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("1 MB preamble: %d %+v, want 413", resp.StatusCode, e)
	}
}

// TestReadBudget: the body bytes held at once are capped: while one upload holds
// most of the budget, another that needs more than what is left gets 503, and the
// budget is whole again once the first is answered.
func TestReadBudget(t *testing.T) {
	s, ts := newTestServer(t, Config{ReadBudgetBytes: 100 << 10}, nil)
	img := solidPNG(t, 8, 8, red)
	big := append(img, make([]byte, 70<<10)...) // a PNG with trailing bytes decodes fine
	conn := dialRaw(t, hostOf(ts))
	fmt.Fprintf(conn, "POST /v1/tag HTTP/1.1\r\nHost: %s\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", hostOf(ts), len(big))
	conn.Write(big[:1000])
	deadline := time.Now().Add(5 * time.Second)
	for used(s) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	resp := post(t, ts.URL+"/v1/tag", "image/png", bytes.NewReader(big))
	var e errorBody
	decodeJSON(t, resp, &e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Error.Code != codeOverloaded || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second upload while the budget is held: %d %+v, want 503 overloaded", resp.StatusCode, e)
	}
	conn.Write(big[1000:])
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r1, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r1.Body)
	r1.Body.Close()
	if r1.StatusCode != 200 {
		t.Errorf("first upload: %d", r1.StatusCode)
	}
	for used(s) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if u := used(s); u != 0 {
		t.Errorf("read budget still holds %d bytes", u)
	}
}

func used(s *Server) int64 {
	s.reading.mu.Lock()
	defer s.reading.mu.Unlock()
	return s.reading.used
}
