package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autotag/autotag"
	"github.com/autotag/autotag/nn/gemm"
)

// childEnv makes the test binary run a server instead of tests (see runChildServer).
const childEnv = "AUTOTAG_SERVE_TEST_CHILD"

// runChildServer is the subprocess side of TestSIGTERMDrains: a server with a slow
// fake engine whose context ends on SIGTERM, exactly as cmd.Execute wires it.
func runChildServer() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := Config{MaxBatch: 4, BatchDelay: time.Millisecond, QueueSize: 64, Logger: slogJSON(os.Stderr)}
	var eng Engine = &fakeEngine{perBatch: 150 * time.Millisecond}
	switch os.Getenv(childEnv + "_MODE") {
	case "decode": // the default decoder, with time to drain a refused JPEG bomb
		cfg = Config{Logger: slogJSON(os.Stderr), ShutdownTimeout: 20 * time.Second}
		eng = &fakeEngine{}
	case "bomb":
		cfg = Config{MaxBatch: 8, MemoryLimit: -1, Logger: slogJSON(io.Discard)}
		eng = &fakeEngine{perBatch: 20 * time.Millisecond}
	case "load":
		if os.Getenv(childEnv+"_SPARE") == "1" { // what autotag serve --spare-proc does
			gemm.SetThreads(runtime.NumCPU())
			runtime.GOMAXPROCS(runtime.NumCPU() + 1)
		}
		cfg = loadConfig
		cfg.Logger = slogJSON(io.Discard)
		eng = newLoadFake()
	}
	if p := os.Getenv(childEnv + "_MODEL"); p != "" {
		tg, err := autotag.Open(ctx, p, autotag.WithBatchSize(loadEngineBatch), autotag.WithWorkers(loadWorkers))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		eng = tg
	}
	s, err := New(cfg, eng)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if p := os.Getenv("AUTOTAG_SERVE_CPUPROFILE"); p != "" && os.Getenv(childEnv+"_MODE") == "load" {
		// The load benchmarks' server profile (stopped, and so written, after the drain).
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(ln.Addr().String())
	if err := s.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pprof.StopCPUProfile() // flushes the profile, if any
	os.Exit(0)
}

// TestSIGTERMDrains runs the server in a subprocess, sends 16 requests (four
// batches' worth of work queued behind a slow engine), sends SIGTERM while they are
// in flight, and checks that every accepted request is answered 200, that new
// connections are refused, and that the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		runChildServer()
		return
	}
	if testing.Short() {
		t.Skip("subprocess test")
	}
	base, cmd, stderr := startChild(t, "", "")
	body := solidJPEG(t, 32, 32, red)
	const n = 16
	var wg sync.WaitGroup
	codes := make(chan int, n)
	client := &http.Client{Timeout: 20 * time.Second}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(base+"/v1/tag", "image/jpeg", bytes.NewReader(body))
			if err != nil {
				t.Errorf("accepted request failed: %v", err)
				codes <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	awaitInflight(base, n+1, 10*time.Second) // all of them, and the metrics request itself
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		if c == 200 {
			ok++
		}
	}
	if ok != n {
		t.Errorf("%d of %d accepted requests answered 200 across SIGTERM", ok, n)
	}
	// The listener is closed once draining started.
	time.Sleep(50 * time.Millisecond)
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("new connection accepted after SIGTERM (status %d)", resp.StatusCode)
	}
	awaitExit(t, cmd, stderr, 10*time.Second)
	t.Logf("drained %d requests in %v after SIGTERM", n, time.Since(sent).Round(time.Millisecond))
	if !strings.Contains(stderr.String(), "shut down cleanly") {
		t.Errorf("no clean-shutdown log line:\n%s", stderr.String())
	}
}
