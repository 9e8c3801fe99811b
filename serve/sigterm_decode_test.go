package serve

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/jpegbomb"
)

// TestSIGTERMDuringDecode: SIGTERM while the server decodes a scan bomb (a 16 MP
// frame, 20,000 scans: minutes of work without the JPEG limits) and a photo. Both
// accepted requests get their real answer, 422 and 200, and the process drains and
// exits 0 (without the limits the drain outlived its timeout and the bomb's
// request was dropped).
func TestSIGTERMDuringDecode(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	base, cmd, stderr := startChild(t, "decode", "")
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
	awaitInflight(base, 3, 5*time.Second) // both requests, and the metrics request itself
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for name, code := range want {
		if got[name] != code {
			t.Errorf("%s: status %d across SIGTERM, want %d", name, got[name], code)
		}
	}
	awaitExit(t, cmd, stderr, 30*time.Second)
}
