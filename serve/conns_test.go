package serve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// serveConnTest serves a fake engine with cfg on a loopback port until the test ends.
func serveConnTest(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Logger = quietLogger(t)
	s, err := New(cfg, &fakeEngine{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, ln.Addr().String()
}

// closedByServer reports whether the server closed c (within a second) without
// answering anything.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Second))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && err == io.EOF
}

// TestConnectionsCappedPerClient: connections that dribble their headers (slowloris)
// or sit idle are capped per client, so one client cannot hold every descriptor;
// past the cap an idle keep-alive connection is closed to make room, and with none
// idle the new one is closed at once.
func TestConnectionsCappedPerClient(t *testing.T) {
	s, addr := serveConnTest(t, Config{MaxConnsPerClient: 4, ReadHeaderTimeout: 10 * time.Second})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 4; i++ { // half-sent headers: active, never idle
		c := dialRaw(t, addr)
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
	}
	time.Sleep(100 * time.Millisecond)
	extra := dialRaw(t, addr)
	conns = append(conns, extra)
	if !closedByServer(extra) {
		t.Fatal("a fifth connection beside four slow ones was kept open")
	}
	var m dto.Metric
	if err := s.m.rejections.WithLabelValues("too_many_conns").Write(&m); err != nil || m.GetCounter().GetValue() < 1 {
		got := m.GetCounter().GetValue()
		t.Errorf("too_many_conns rejections = %v", got)
	}
	for _, c := range conns[:4] {
		c.Close()
	}
	conns = nil
	waitConns(t, s, 0)

	// Four idle keep-alive connections, then a fifth: one idle one makes room.
	idle := make([]net.Conn, 4)
	for i := range idle {
		idle[i] = dialRaw(t, addr)
		conns = append(conns, idle[i])
		if code := rawGet(t, idle[i]); code != http.StatusOK {
			t.Fatalf("healthz on connection %d: %d", i, code)
		}
	}
	time.Sleep(100 * time.Millisecond)
	fifth := dialRaw(t, addr)
	conns = append(conns, fifth)
	if code := rawGet(t, fifth); code != http.StatusOK {
		t.Fatalf("a fifth connection beside four idle ones: %d, want 200", code)
	}
	closed := 0
	for _, c := range idle {
		if closedByServer(c) {
			closed++
		}
	}
	if closed != 1 {
		t.Errorf("%d idle connections were closed to make room, want 1", closed)
	}
}

// TestConnectionsCappedInAll: MaxConns bounds every client's connections together.
func TestConnectionsCappedInAll(t *testing.T) {
	_, addr := serveConnTest(t, Config{MaxConns: 3, MaxConnsPerClient: -1})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		c := dialRaw(t, addr)
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\n")
	}
	time.Sleep(100 * time.Millisecond)
	c := dialRaw(t, addr)
	conns = append(conns, c)
	if !closedByServer(c) {
		t.Fatal("a connection past MaxConns was kept open")
	}
}

// waitConns waits until s counts n open connections (closed ones are counted out
// when the server notices them closed).
func waitConns(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		s.conns.mu.Lock()
		got := s.conns.total
		s.conns.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", got, n)
		}
	}
}

// rawGet sends GET /healthz on c (keep-alive) and returns the status.
func rawGet(t *testing.T, c net.Conn) int {
	t.Helper()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestClientKey: per-client limits count an IPv6 client by its /64 (it can pick any
// address in it), and an IPv4-mapped address as the IPv4 address.
func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"fe80::1%eth0", "fe80::2%eth1"},
	} {
		if ka, kb := clientKey(tc.a), clientKey(tc.b); ka != kb {
			t.Errorf("clientKey(%s) = %s, clientKey(%s) = %s; want one client", tc.a, ka, tc.b, kb)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.7", "192.0.2.8"},
	} {
		if clientKey(tc.a) == clientKey(tc.b) {
			t.Errorf("%s and %s counted as one client", tc.a, tc.b)
		}
	}
}

// TestRateLimitCountsIPv6By64: rotating addresses inside one IPv6 /64 does not
// refill the rate limit.
func TestRateLimitCountsIPv6By64(t *testing.T) {
	s, err := New(Config{Logger: quietLogger(t), RateLimit: 1, RateBurst: 2}, &fakeEngine{})
	if err != nil {
		t.Fatal(err)
	}
	codes := []int{}
	for i := 1; i <= 4; i++ {
		r, _ := http.NewRequest(http.MethodGet, "/v1/model", nil)
		r.Host = "127.0.0.1"
		r.RemoteAddr = fmt.Sprintf("[2001:db8::%x]:1234", i)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		codes = append(codes, w.Code)
	}
	if !strings.HasSuffix(fmt.Sprint(codes), "429 429]") {
		t.Errorf("statuses from four addresses of one /64 = %v, want the burst of 2 then 429", codes)
	}
}

// TestUploadNameSanitised: a part's file name is the client's; a name of megabytes,
// or one with newlines, escapes or a right-to-left override, is answered (and
// logged) cut short and with those characters replaced; "../" is already dropped.
// Controls cannot be written into a header line, but RFC 2231's percent-encoded
// filename* parameter carries any byte.
func TestUploadNameSanitised(t *testing.T) {
	s, err := New(Config{Logger: quietLogger(t)}, &fakeEngine{})
	if err != nil {
		t.Fatal(err)
	}
	long := "../../etc/" + strings.Repeat("é", 200) + "\r\nX-Injected: 1\x1b[31m\u202egpj.exe" + strings.Repeat("x", 20000)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	// RFC 2231 encoding carries bytes a plain header line may not (mime decodes it).
	h.Set("Content-Disposition", `form-data; name="image"; filename*=utf-8''`+percentAll(long))
	pw, _ := mw.CreatePart(h)
	pw.Write(solidPNG(t, 8, 8, color.RGBA{200, 10, 10, 255}))
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, "/v1/tag", &body)
	r.Host = "127.0.0.1"
	r.Header.Set("Content-Type", mw.FormDataContentType())
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var resp tagResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Results) != 1 {
		t.Fatalf("answer %s: %v", w.Body, err)
	}
	name := resp.Results[0].Name
	if len(name) > maxNameBytes+len("…") || strings.ContainsAny(name, "\r\n\x1b\u202e/") || !strings.HasPrefix(name, "éé") {
		t.Errorf("name answered as %d bytes: %.80q", len(name), name)
	}
	for in, want := range map[string]string{"": "image", "cat.jpg": "cat.jpg", "a\tb": "a\uFFFDb", "x\xffy": "x\uFFFDy"} {
		if got := uploadName(in); got != want {
			t.Errorf("uploadName(%q) = %q, want %q", in, got, want)
		}
	}
}

// percentAll percent-encodes every byte of s but letters and digits (RFC 2231).
func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// TestHTTP2StreamsCapped: one HTTP/2 connection may carry only MaxStreams requests
// at once (the default 250 would let one connection hold hundreds of handlers and
// uploads); a client past it opens another connection, which the per-client
// connection cap bounds in turn.
func TestHTTP2StreamsCapped(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t)
	eng := &fakeEngine{perBatch: 200 * time.Millisecond}
	s, err := New(Config{Logger: quietLogger(t), TLSCertFile: certFile, TLSKeyFile: keyFile, MaxStreams: 2,
		MaxBatch: 1, BatchDelay: -1, Workers: 8, QueueSize: 16}, eng)
	if err != nil {
		t.Fatal(err)
	}
	// Count the requests in handlers at once per connection (remote address).
	var mu sync.Mutex
	now, peak := map[string]int{}, map[string]int{}
	inner := s.handler
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now[r.RemoteAddr]++
		peak[r.RemoteAddr] = max(peak[r.RemoteAddr], now[r.RemoteAddr])
		mu.Unlock()
		defer func() { mu.Lock(); now[r.RemoteAddr]--; mu.Unlock() }()
		inner.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	// One connection first, so the others find it open and full.
	if resp, err := client.Get("https://" + ln.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
	}
	img := solidJPEG(t, 8, 8, red)
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post("https://"+ln.Addr().String()+"/v1/tag", "image/jpeg", bytes.NewReader(img))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("request %d over %s", i, resp.Proto)
			}
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for addr, p := range peak {
		if p > 2 {
			t.Errorf("%d requests at once on the HTTP/2 connection from %s, want at most 2", p, addr)
		}
	}
}

// TestHostWithBogusPortRefused: a Host whose "port" is not a number
// ("127.0.0.1:8080@attacker.example") names no address of ours and is refused, as
// sent on the wire (Go's client rewrites such a Host before sending it).
func TestHostWithBogusPortRefused(t *testing.T) {
	_, addr := serveConnTest(t, Config{})
	for _, host := range []string{"127.0.0.1:8080@attacker.example", "localhost:http", "[::1]:+80"} {
		c := dialRaw(t, addr)
		fmt.Fprintf(c, "GET /v1/model HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("Host %q: %v", host, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Host %q: status %d, want 403 (or Go's own 400)", host, resp.StatusCode)
		}
	}
}
