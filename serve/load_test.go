package serve

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/testenv"
)

// loadResult tallies one load run.
type loadResult struct {
	sent, ok, refused, limited, other4xx, other5xx, netErr, dropped int
	dur                                                             time.Duration
	okLat, refusedLat                                               []time.Duration
}

func (r *loadResult) goodput() float64 { return float64(r.ok) / r.dur.Seconds() }

// pct returns the p-th percentile (0-100) of lat.
func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

func (r *loadResult) String() string {
	return fmt.Sprintf("sent %d ok %d (%.1f/s, p50 %v p99 %v) 503 %d (p99 %v, max %v) 429 %d 4xx %d 5xx %d net %d dropped %d",
		r.sent, r.ok, r.goodput(), pct(r.okLat, 50).Round(time.Millisecond), pct(r.okLat, 99).Round(time.Millisecond),
		r.refused, pct(r.refusedLat, 99).Round(time.Microsecond*100), pct(r.refusedLat, 100).Round(time.Microsecond*100),
		r.limited, r.other4xx, r.other5xx, r.netErr, r.dropped)
}

// loadClient is an HTTP client for loopback load with enough idle connections.
func loadClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
}

// loadTarget is what a load run sends: the URL, the content type and one of the
// bodies (round robin).
type loadTarget struct {
	url    string
	ct     string
	bodies [][]byte
}

// shoot sends one request and records it.
func shoot(c *http.Client, tg loadTarget, i int, res *loadResult, mu *sync.Mutex) {
	body := tg.bodies[i%len(tg.bodies)]
	start := time.Now()
	resp, err := c.Post(tg.url, tg.ct, bytes.NewReader(body))
	var code int
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		code = resp.StatusCode
	}
	lat := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case err != nil:
		res.netErr++
	case code == 200:
		res.ok++
		res.okLat = append(res.okLat, lat)
	case code == 503:
		res.refused++
		res.refusedLat = append(res.refusedLat, lat)
	case code == 429:
		res.limited++
	case code >= 500:
		res.other5xx++
	default:
		res.other4xx++
	}
}

// openLoop sends requests at a constant rate for d regardless of answers (the
// arrival process of real clients), with at most maxInflight outstanding; arrivals
// beyond that are counted as dropped by the client.
func openLoop(tg loadTarget, rate float64, d time.Duration, maxInflight int) *loadResult {
	c := loadClient(maxInflight)
	res := &loadResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInflight)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if next.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(next))
		res.sent++
		select {
		case sem <- struct{}{}:
		default:
			res.dropped++
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			shoot(c, tg, i, res, &mu)
		}(i)
	}
	wg.Wait()
	res.dur = time.Since(start)
	return res
}

// closedLoop runs conc clients back to back for d: the saturation throughput.
func closedLoop(tg loadTarget, conc int, d time.Duration) *loadResult {
	c := loadClient(conc)
	res := &loadResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var n atomic.Int64
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				i := int(n.Add(1))
				shoot(c, tg, i, res, &mu)
				mu.Lock()
				res.sent++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.dur = time.Since(start)
	return res
}

// engineThroughput runs the engine on full batches of imgs for about d and returns
// images per second: the figure the server's saturation throughput is held to.
func engineThroughput(b testing.TB, e Engine, imgs []image.Image, batch int, d time.Duration) float64 {
	in := make([]image.Image, batch)
	for i := range in {
		in[i] = imgs[i%len(imgs)]
	}
	if _, err := e.Probabilities(context.Background(), in); err != nil { // warm-up
		b.Fatal(err)
	}
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if _, err := e.Probabilities(context.Background(), in); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	return float64(n) / time.Since(start).Seconds()
}

// loadPhotos returns the darknet photos (when shared data is present) or
// generated JPEGs, encoded and decoded.
func loadPhotos(b testing.TB) ([][]byte, []image.Image) {
	var encoded [][]byte
	if dir := testenv.SharedDataDir(); dir != "" {
		for _, n := range []string{"dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg"} {
			if raw, err := os.ReadFile(filepath.Join(dir, "darknet-photos", n)); err == nil {
				encoded = append(encoded, raw)
			}
		}
	}
	if len(encoded) == 0 {
		for i := 0; i < 4; i++ {
			encoded = append(encoded, solidJPEG(b, 640, 480, red))
		}
	}
	var decoded []image.Image
	for _, e := range encoded {
		img, err := defaultDecode(bytes.NewReader(e), defaultMaxPixels)
		if err != nil {
			b.Fatal(err)
		}
		decoded = append(decoded, img)
	}
	return encoded, decoded
}

// BenchmarkServeLoad measures the server on loopback, once per engine: engine batch
// throughput; served throughput at saturation (closed loop); latency at 1× capacity
// and goodput, refusals and their latency at 2× capacity (open loop). It reports
// the ratios the serve issue sets as targets. Run:
//
//	go test -run XXX -bench ServeLoad -benchtime 1x ./serve
func BenchmarkServeLoad(b *testing.B) {
	b.Run("fake", func(b *testing.B) {
		benchLoad(b, &fakeEngine{perBatch: 20 * time.Millisecond, perImage: 5 * time.Millisecond}, 8, 3*time.Second)
	})
	b.Run("resnet50", func(b *testing.B) {
		e := realEngine(b, 8)
		benchLoad(b, e, 8, 12*time.Second)
	})
}

func benchLoad(b *testing.B, eng Engine, maxBatch int, d time.Duration) {
	encoded, decoded := loadPhotos(b)
	engineIPS := engineThroughput(b, eng, decoded, maxBatch, d/2)
	cfg := Config{MaxBatch: maxBatch, BatchDelay: 5 * time.Millisecond, QueueSize: 4 * maxBatch, Logger: quietLogger(b)}
	s, err := New(cfg, eng)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // loopback only
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	tg := loadTarget{url: "http://" + ln.Addr().String() + "/v1/tag", ct: "image/jpeg", bodies: encoded}

	closedLoop(tg, maxBatch, d/4) // warm-up
	sat := closedLoop(tg, 3*maxBatch, d)
	capacity := sat.goodput()
	b.Logf("engine batch throughput: %.1f img/s", engineIPS)
	b.Logf("saturation (closed loop, %d clients): %v", 3*maxBatch, sat)
	one := openLoop(tg, capacity, d, 1024)
	b.Logf("1× capacity (%.1f req/s open loop): %v", capacity, one)
	two := openLoop(tg, 2*capacity, d, 1024)
	b.Logf("2× capacity (%.1f req/s open loop): %v", 2*capacity, two)
	b.ReportMetric(engineIPS, "engine_img/s")
	b.ReportMetric(capacity, "served_img/s")
	b.ReportMetric(capacity/engineIPS, "served/engine")
	b.ReportMetric(float64(pct(one.okLat, 50).Milliseconds()), "p50_1x_ms")
	b.ReportMetric(float64(pct(one.okLat, 99).Milliseconds()), "p99_1x_ms")
	b.ReportMetric(float64(pct(two.okLat, 50).Milliseconds()), "p50_2x_ms")
	b.ReportMetric(float64(pct(two.okLat, 99).Milliseconds()), "p99_2x_ms")
	b.ReportMetric(two.goodput()/capacity, "goodput_2x/capacity")
	b.ReportMetric(float64(pct(two.refusedLat, 99).Microseconds())/1000, "p99_503_ms")
	b.ReportMetric(float64(two.other5xx+one.other5xx+sat.other5xx), "other_5xx")
}
