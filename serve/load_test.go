package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/testenv"
	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/weights"
)

// loadResult tallies one load run.
type loadResult struct {
	sent, ok, refused, limited, other4xx, other5xx, netErr, dropped int
	dur                                                             time.Duration
	okLat, refusedLat                                               []time.Duration

	start    time.Time       // when the run began
	okAt     []time.Duration // when each 200 arrived, from start
	from, to time.Duration   // the steady window of a closed loop (see steady)
}

// goodput is the 200 answers per second over the whole run, drain included.
func (r *loadResult) goodput() float64 { return float64(r.ok) / r.dur.Seconds() }

// steady is the 200 answers per second inside the closed loop's steady window: after
// the pipeline has filled and before the clients stop sending, so neither the first
// requests' decoding nor the last, partly empty batch counts against the server.
// Answers come in bursts, a batch at a time, so counting them in a fixed window would
// be off by up to a batch; instead the rate runs from burst to burst: the answers of
// the second to the last complete burst in the window, over the time from the first
// burst to that one.
func (r *loadResult) steady() float64 {
	var ts []time.Duration
	for _, t := range r.okAt {
		if t > r.from && t <= r.to {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	const gap = 20 * time.Millisecond // answers closer than this belong to one burst
	var starts []time.Duration        // each burst's first answer
	var sizes []int
	for i, t := range ts {
		if i > 0 && t-ts[i-1] <= gap {
			sizes[len(sizes)-1]++
			continue
		}
		starts, sizes = append(starts, t), append(sizes, 1)
	}
	// The last burst may run past the window: leave it out.
	if len(starts) < 3 {
		return r.goodput()
	}
	k := len(starts) - 2 // the last complete burst
	n := 0
	for _, sz := range sizes[1 : k+1] {
		n += sz
	}
	return float64(n) / (starts[k] - starts[0]).Seconds()
}

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
		res.okAt = append(res.okAt, time.Since(res.start))
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
	start := time.Now()
	res := &loadResult{start: start}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInflight)
	interval := time.Duration(float64(time.Second) / rate)
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

// closedLoop runs conc clients back to back for d: the saturation throughput (its
// steady window leaves out the first fifth, at most 2 s, while the pipeline fills).
func closedLoop(tg loadTarget, conc int, d time.Duration) *loadResult {
	c := loadClient(conc)
	start := time.Now()
	res := &loadResult{start: start, from: min(d/5, 2*time.Second), to: d}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var n atomic.Int64
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

// loadPhotos returns the load benchmarks' photos, encoded and decoded. Without shared
// data they are generated 640×480 JPEGs; with it, AUTOTAG_LOAD_PHOTOS picks the set:
// "darknet" (the default: six of Debian's darknet sample photos, 500×500 to 1352×900
// at high JPEG quality — kite.jpg alone is 1.4 MB), "coco" (the first 32 coco128
// val2017 photos: COCO's own 640×480-ish, quality ~90) or a directory of *.jpg files.
func loadPhotos(b testing.TB) ([][]byte, []image.Image) {
	var paths []string
	if dir := testenv.SharedDataDir(); dir != "" {
		switch set := os.Getenv("AUTOTAG_LOAD_PHOTOS"); set {
		case "", "darknet":
			for _, n := range []string{"dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg"} {
				paths = append(paths, filepath.Join(dir, "darknet-photos", n))
			}
		case "coco":
			paths, _ = filepath.Glob(filepath.Join(dir, "coco128", "images", "val2017", "*.jpg"))
			slices.Sort(paths)
			paths = paths[:min(32, len(paths))]
		default:
			paths, _ = filepath.Glob(filepath.Join(set, "*.jpg"))
			if len(paths) == 0 {
				b.Fatalf("AUTOTAG_LOAD_PHOTOS=%s: no *.jpg there", set)
			}
		}
	}
	var encoded [][]byte
	for _, p := range paths {
		if raw, err := os.ReadFile(p); err == nil {
			encoded = append(encoded, raw)
		}
	}
	if len(encoded) == 0 {
		for i := 0; i < 4; i++ {
			encoded = append(encoded, solidJPEG(b, 640, 480, red))
		}
	}
	var decoded []image.Image
	for _, e := range encoded {
		img, err := defaultDecodeBytesContext(context.Background(), e, nil, defaultMaxPixels)
		if err != nil {
			b.Fatal(err)
		}
		decoded = append(decoded, img)
	}
	return encoded, decoded
}

// benchForward measures the model's forward pass alone the way `autotag bench` does
// (cmd/bench.go, benchOne): one runner of batch images at the model's input size,
// built as NewRunner builds it (data-parallel), on random input. The returned function
// runs it for about d and returns images per second; the issue holds served throughput
// to this figure.
func benchForward(b testing.TB, path string, batch int) func(d time.Duration) float64 {
	wm, err := weights.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	m := nn.NewResNet50(nn.Config{Layout: nn.Layout(wm.Meta.Layout), BNEps: wm.Meta.BNEps, NumClasses: len(wm.Meta.Classes)})
	if err := m.Bind(wm.Tensors); err != nil {
		b.Fatal(err)
	}
	size := wm.Meta.Preprocess.Crop
	r, err := m.NewRunner(batch, size, size)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	x := make([]float32, batch*3*size*size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return func(d time.Duration) float64 {
		if _, _, err := r.Forward(x); err != nil { // warm-up
			b.Fatal(err)
		}
		n := 0
		start := time.Now()
		for n < 3*batch || time.Since(start) < d {
			if _, _, err := r.Forward(x); err != nil {
				b.Fatal(err)
			}
			n += batch
		}
		return float64(n) / time.Since(start).Seconds()
	}
}

// loadEngineBatch is the real model's graph batch size in the load benchmark, as
// autotag serve sets it by default: the server's max batch, so a gathered batch runs
// on the data-parallel runner (one image per thread at a time; `autotag bench` shows
// it the fastest per image), short batches included (nn.Runner.Flexible).
const loadEngineBatch = 8

// saturating is the closed-loop client count that saturates the load benchmark's
// server: a full batch for each of its workers in flight, and one more queued, so
// that a batch never waits for its clients' next requests to arrive and decode.
var saturating = (loadWorkers + 1) * loadConfig.MaxBatch

// loadWorkers is the load benchmark server's batches in flight (autotag serve's
// default).
const loadWorkers = 2

// loadConfig is the server configuration of the load benchmark.
var loadConfig = Config{MaxBatch: 8, BatchDelay: 5 * time.Millisecond, Workers: loadWorkers, QueueSize: 32}

// newLoadFake is the fake engine of the load benchmark: 20 ms per batch plus 5 ms
// per image, so batching pays.
func newLoadFake() *fakeEngine {
	return &fakeEngine{perBatch: 20 * time.Millisecond, perImage: 5 * time.Millisecond}
}

// BenchmarkServeLoad measures the server on loopback, once per engine. In alternating
// blocks: the forward pass alone as `autotag bench` runs it (batch MaxBatch, random
// input; real model only), the engine's batch throughput on decoded photos
// (Probabilities, with preprocessing), both in this process, and, against the server
// in a subprocess (so the load generator and the server do not share a Go
// scheduler), the served throughput at saturation (closed loop). Then latency at 1×
// capacity, and goodput, refusals and their latency at 2× capacity (open loop). It
// reports the ratios the serve issue sets as targets — served/forward is its "served
// throughput ÷ `autotag bench`". Note that the load generator shares the machine's
// cores with the server. Run:
//
//	go test -run XXX -bench ServeLoad -benchtime 1x ./serve
//
// AUTOTAG_LOAD_PHOTOS picks the photos (see loadPhotos); AUTOTAG_LOAD_SPARE=1 runs
// the server as autotag serve --spare-proc does (GEMM on NumCPU goroutines,
// GOMAXPROCS NumCPU+1); AUTOTAG_LOAD_PHASE (a duration, default 3s with the fake
// engine, 12s with the real model) sets the length of each phase.
func BenchmarkServeLoad(b *testing.B) {
	phase := func(def time.Duration) time.Duration {
		if v, err := time.ParseDuration(os.Getenv("AUTOTAG_LOAD_PHASE")); err == nil {
			return v
		}
		return def
	}
	b.Run("fake", func(b *testing.B) {
		benchLoad(b, newLoadFake(), "", nil, phase(3*time.Second))
	})
	b.Run("resnet50", func(b *testing.B) {
		path := testenv.KerasModel(b)
		e := realEngine(b, loadEngineBatch)
		benchLoad(b, e, path, benchForward(b, path, loadConfig.MaxBatch), phase(12*time.Second))
	})
}

// startChild runs the test binary as a server subprocess in mode (see
// runChildServer; with the model at modelPath when not empty) and returns its base
// URL, the process, and its stderr (read it once the process has exited).
func startChild(b testing.TB, mode, modelPath string) (base string, cmd *exec.Cmd, stderr *bytes.Buffer) {
	cmd = exec.Command(os.Args[0], "-test.run=^TestSIGTERMDrains$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_MODE="+mode, childEnv+"_SPARE="+os.Getenv("AUTOTAG_LOAD_SPARE"))
	if modelPath != "" {
		cmd.Env = append(cmd.Env, childEnv+"_MODEL="+modelPath)
	}
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("child gave no address: %v\n%s", err, stderr.String())
	}
	return "http://" + strings.TrimSpace(addr), cmd, stderr
}

// awaitInflight waits until the server at base holds n requests in flight (as its
// /metrics counts them), or until d has passed.
func awaitInflight(base string, n int, d time.Duration) {
	want := fmt.Sprintf("autotag_http_inflight_requests %d", n)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), want) {
			return
		}
	}
}

// awaitExit waits up to d for a child server to exit, failing t unless it exits 0.
func awaitExit(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer, d time.Duration) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("child exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(d):
		cmd.Process.Kill()
		<-errc
		t.Fatalf("child did not exit\n%s", stderr.String())
	}
}

func benchLoad(b *testing.B, eng Engine, modelPath string, forward func(time.Duration) float64, d time.Duration) {
	encoded, decoded := loadPhotos(b)
	base, cmd, _ := startChild(b, "load", modelPath)
	tg := loadTarget{url: base + "/v1/tag", ct: "image/jpeg", bodies: encoded}
	maxBatch := loadConfig.MaxBatch

	closedLoop(tg, maxBatch, d/4) // warm-up
	// The shared machine's speed drifts over minutes, so the forward pass alone (as
	// `autotag bench` runs it), the engine on decoded photos (Probabilities: with
	// preprocessing) — both in this process, the server idle — and the server at
	// saturation (the engine here idle) are measured in alternating blocks.
	const blocks = 4
	var forwardSum, engineSum, servedSum float64
	var sat *loadResult
	for i := 0; i < blocks; i++ {
		var f float64
		if forward != nil {
			f = forward(d / blocks / 2)
		}
		e := engineThroughput(b, eng, decoded, maxBatch, d/blocks/2)
		r := closedLoop(tg, saturating, d/blocks)
		b.Logf("block %d: forward (autotag bench) %.2f img/s, engine %.2f img/s, served %.2f img/s steady (%v)", i, f, e, r.steady(), r)
		forwardSum += f
		engineSum += e
		servedSum += r.steady()
		if sat == nil || r.steady() > sat.steady() {
			sat = r
		}
	}
	forwardIPS := forwardSum / blocks
	engineIPS := engineSum / blocks
	capacity := servedSum / blocks
	if c, ok := eng.(Closer); ok {
		c.Close() // free its memory and threads for the latency phases
	}
	b.Logf("saturation: served %.2f img/s, engine %.2f img/s, forward %.2f img/s (means of %d alternating blocks)", capacity, engineIPS, forwardIPS, blocks)
	one := openLoop(tg, capacity, d, 1024)
	b.Logf("1× capacity (%.1f req/s open loop): %v", capacity, one)
	// The shared machine's speed drifts over minutes: measure the capacity again
	// right before the overload phase and hold the goodput to that figure.
	sat2 := closedLoop(tg, saturating, d/2)
	capacity2 := sat2.steady()
	b.Logf("saturation again (closed loop, %d clients): %v", saturating, sat2)
	two := openLoop(tg, 2*capacity2, d, 1024)
	b.Logf("2× capacity (%.1f req/s open loop): %v", 2*capacity2, two)
	if resp, err := http.Get(base + "/metrics"); err == nil {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "autotag_batch_size_sum") || strings.HasPrefix(line, "autotag_batch_size_count") ||
				strings.HasPrefix(line, "autotag_rejections_total") {
				b.Log(line)
			}
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b.Errorf("server exit after SIGTERM: %v", err)
	}
	b.ReportMetric(engineIPS, "engine_img/s")
	b.ReportMetric(capacity, "served_img/s")
	b.ReportMetric(capacity/engineIPS, "served/engine")
	if forward != nil {
		b.ReportMetric(forwardIPS, "forward_img/s")
		b.ReportMetric(capacity/forwardIPS, "served/forward") // the "served ÷ autotag bench"
	}
	b.ReportMetric(float64(pct(one.okLat, 50).Milliseconds()), "p50_1x_ms")
	b.ReportMetric(float64(pct(one.okLat, 99).Milliseconds()), "p99_1x_ms")
	b.ReportMetric(float64(pct(two.okLat, 50).Milliseconds()), "p50_2x_ms")
	b.ReportMetric(float64(pct(two.okLat, 99).Milliseconds()), "p99_2x_ms")
	b.ReportMetric(two.goodput()/capacity2, "goodput_2x/capacity")
	b.ReportMetric(float64(pct(two.refusedLat, 99).Microseconds())/1000, "p99_503_ms")
	b.ReportMetric(float64(two.other5xx+one.other5xx+sat.other5xx+sat2.other5xx), "other_5xx")
	b.ReportMetric(float64(pct(two.refusedLat, 100).Microseconds())/1000, "max_503_ms")
}

// TestSteadyRate checks the load benchmarks' rate estimate on synthetic answers: bursts
// of 8 every 400 ms are 20 answers/s whatever the window's alignment, where counting
// in the window would be off by up to a burst.
func TestSteadyRate(t *testing.T) {
	for _, phase := range []time.Duration{0, 50 * time.Millisecond, 199 * time.Millisecond, 390 * time.Millisecond} {
		r := &loadResult{from: 2 * time.Second, to: 10 * time.Second}
		for at := phase; at < 11*time.Second; at += 400 * time.Millisecond {
			for i := range 8 {
				r.okAt = append(r.okAt, at+time.Duration(i)*time.Millisecond)
			}
		}
		if got := r.steady(); math.Abs(got-20) > 0.01 {
			t.Errorf("bursts at phase %v: steady %.3f/s, want 20", phase, got)
		}
	}
}
