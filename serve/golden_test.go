package serve

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/serve")

// TestGoldenResponses pins the JSON of the API (DESIGN.md §5) in
// testdata/serve/*.golden.json, with the request id fixed by X-Request-Id and the
// timings and batch size, which vary, zeroed. Run with -update after a deliberate change.
func TestGoldenResponses(t *testing.T) {
	_, ts := newTestServer(t, Config{}, nil)
	mpCT, mp := multipartBody(t,
		[3]string{"image", "red.jpg", string(solidJPEG(t, 40, 30, red))},
		[3]string{"image", "white.png", string(solidPNG(t, 7, 5, white))})
	cases := []struct {
		name, method, path, ct string
		body                   []byte
	}{
		{"tag-raw", "POST", "/v1/tag?threshold=0.3&top_k=2", "image/jpeg", solidJPEG(t, 64, 48, red)},
		{"tag-multipart", "POST", "/v1/tag", mpCT, mp.Bytes()},
		{"model", "GET", "/v1/model", "", nil},
		{"error-unsupported", "POST", "/v1/tag", "text/plain", []byte("hi")},
		{"error-not-found", "GET", "/v2/tag", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, ts.URL+c.path, bytes.NewReader(c.body))
			if c.ct != "" {
				req.Header.Set("Content-Type", c.ct)
			}
			req.Header.Set("X-Request-Id", "golden-"+c.name)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var v map[string]any
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if tm, ok := v["timing_ms"].(map[string]any); ok {
				for k := range tm {
					tm[k] = 0 // batch_size too: it depends on timing
				}
			}
			got, _ := json.MarshalIndent(map[string]any{"status": resp.StatusCode, "body": v}, "", "  ")
			got = append(got, '\n')
			path := filepath.Join("..", "testdata", "serve", c.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./serve -run Golden -update)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s differs from the golden file (-want +got):\n%s", c.name, d)
			}
		})
	}
}
