package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/jpegbomb"
)

// decodeChildEnv makes the test binary run TestSIGTERMDuringDecode's server.
const decodeChildEnv = "AUTOTAG_SERVE_TEST_DECODE_CHILD"

// TestSIGTERMDuringDecode: SIGTERM while the server decodes a scan bomb (a 16 MP
// frame, 20,000 scans: minutes of work without the JPEG limits) and a photo. Both
// accepted requests get their real answer, 422 and 200, and the process drains and
// exits 0 (without the limits the drain outlived its timeout and the bomb's
// request was dropped).
func TestSIGTERMDuringDecode(t *testing.T) {
	if os.Getenv(decodeChildEnv) == "1" {
		runDecodeChild()
		return
	}
	if testing.Short() {
		t.Skip("subprocess test")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGTERMDuringDecode$")
	cmd.Env = append(os.Environ(), decodeChildEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child gave no address: %v\n%s", err, stderr.String())
	}
	base := "http://" + strings.TrimSpace(addr)
	bodies := map[string][]byte{
		"bomb":  jpegbomb.Scans(4096, 4096, 1, 20000),
		"photo": solidJPEG(t, 64, 48, red),
	}
	want := map[string]int{"bomb": http.StatusUnprocessableEntity, "photo": http.StatusOK}
	client := &http.Client{Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for name, body := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := 0
			resp, err := client.Post(base+"/v1/tag", "image/jpeg", bytes.NewReader(body))
			if err != nil {
				t.Errorf("%s: accepted request failed: %v", name, err)
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			got[name] = code
			mu.Unlock()
		}()
	}
	// SIGTERM once the server holds both requests (or soon, if they finish first).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), fmt.Sprintf("autotag_http_inflight_requests %d", 3)) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for name, code := range want {
		if got[name] != code {
			t.Errorf("%s: status %d across SIGTERM, want %d", name, got[name], code)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("child exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not exit\n%s", stderr.String())
	}
}

// runDecodeChild serves with the default decoder and a fake engine until SIGTERM,
// wired as cmd.Execute does, and exits 0 only after a clean drain.
func runDecodeChild() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	s, err := New(Config{Logger: slogJSON(os.Stderr), ShutdownTimeout: 20 * time.Second}, &fakeEngine{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(ln.Addr().String())
	if err := s.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}
