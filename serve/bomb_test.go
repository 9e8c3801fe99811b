package serve

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/testenv"
)

// rssKB reads a process's resident set size from /proc.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// bombBodies are decompression bombs and header bombs: some pass the pixel cap
// (36 MP of zeros in a 35 KB PNG; a 16-bit 16 MP PNG) and must be held within the
// decode budget, the rest are refused at the header.
func bombBodies(t testing.TB) (bodies [][]byte, cts []string) {
	img16 := image.NewRGBA64(image.Rect(0, 0, 4000, 4000))
	var b16 bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b16, img16); err != nil {
		t.Fatal(err)
	}
	ctMany, many := manyParts(10000)
	bodies = [][]byte{craftPNG(6000, 6000, 6000*(6000*4+1)), b16.Bytes(), craftPNG(65535, 65535, 0), webpBomb(), many}
	cts = []string{"image/png", "image/png", "image/png", "image/webp", ctMany}
	return bodies, cts
}

// BenchmarkBombFlood runs the server in a subprocess (the real model when present,
// else the fake engine), warms it up with photos, then floods it for 6 s from 16
// clients with decompression bombs while one client keeps sending photos, sampling
// the child's RSS every 5 ms. It reports idle and peak RSS; the target is peak ≤
// idle + 300 MB.
//
//	go test -run XXX -bench BombFlood -benchtime 1x ./serve
func BenchmarkBombFlood(b *testing.B) {
	model := ""
	if p := testenv.RepoRoot() + "/.cache/home/models/resnet50-keras.safetensors"; fileExists(p) && !testing.Short() {
		model = p
	}
	base, cmd, _ := startChild(b, "bomb", model)
	url := base + "/v1/tag"
	photos, _ := loadPhotos(b)
	c := loadClient(32)
	send := func(body []byte, ct string) int {
		resp, err := c.Post(url, ct, bytes.NewReader(body))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 16; i++ { // warm-up: engine buffers and batch graphs exist
		send(photos[i%len(photos)], "image/jpeg")
	}
	time.Sleep(500 * time.Millisecond)
	pid := cmd.Process.Pid
	idle := rssKB(pid)

	bodies, cts := bombBodies(b)
	var peak atomic.Int64
	peak.Store(idle)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				if r := rssKB(pid); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	var mu sync.Mutex
	codes := map[string]map[int]int{}
	record := func(kind string, code int) {
		mu.Lock()
		defer mu.Unlock()
		if codes[kind] == nil {
			codes[kind] = map[int]int{}
		}
		codes[kind][code]++
	}
	kinds := []string{"png-36MP-zeros", "png16-16MP", "png-65535²", "webp-bomb", "multipart-10000"}
	deadline := time.Now().Add(6 * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i++ {
				k := i % len(bodies)
				record(kinds[k], send(bodies[k], cts[k]))
			}
		}(w)
	}
	wg.Add(1)
	go func() { // a legitimate user during the flood
		defer wg.Done()
		for i := 0; time.Now().Before(deadline); i++ {
			record("photo", send(photos[i%len(photos)], "image/jpeg"))
		}
	}()
	wg.Wait()
	close(stop)
	sampler.Wait()
	growMB := float64(peak.Load()-idle) / 1024
	b.Logf("engine: %s", map[bool]string{true: "resnet50 " + model, false: "fake"}[model != ""])
	b.Logf("idle RSS %.0f MB, peak RSS %.0f MB, growth %.0f MB (target ≤ 300)", float64(idle)/1024, float64(peak.Load())/1024, growMB)
	for _, k := range append(kinds, "photo") {
		b.Logf("%-16s %v", k, codes[k])
	}
	b.ReportMetric(float64(idle)/1024, "idle_MB")
	b.ReportMetric(float64(peak.Load())/1024, "peak_MB")
	b.ReportMetric(growMB, "growth_MB")
	if codes["photo"][200] == 0 {
		b.Errorf("no photo was tagged during the flood: %v", codes["photo"])
	}
	for k, m := range codes {
		for code := range m {
			if code >= 500 && code != 503 || code == 0 {
				b.Errorf("%s got status %d (%d times)", k, code, m[code])
			}
		}
	}
}
