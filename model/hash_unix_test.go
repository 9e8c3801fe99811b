//go:build unix

package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autotag/autotag/weights"
)

// resetHashCache makes fileHash read its cache file again.
func resetHashCache() {
	hashCache.Lock()
	hashCache.loaded, hashCache.m = false, nil
	hashCache.Unlock()
}

// TestHashCacheTampered: the hash cache is a file in the autotag home; a FIFO in its
// place must not block opening a model, and an entry whose "sha256" is not one (a
// forged or damaged cache) is recomputed instead of reported as the model's hash.
func TestHashCacheTampered(t *testing.T) {
	t.Setenv("AUTOTAG_HOME", t.TempDir())
	t.Cleanup(resetHashCache)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(path, []byte("model bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("model bytes"))
	want := hex.EncodeToString(sum[:])
	st, _ := os.Stat(path)
	cache := filepath.Join(weights.Home(), "sha256-cache.json")
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		t.Fatal(err)
	}

	forged, _ := json.Marshal(map[string]hashEntry{path: {Size: st.Size(), ModNano: st.ModTime().UnixNano(), SHA256: strings.Repeat("\x1b", 64)}})
	os.WriteFile(cache, forged, 0o644)
	resetHashCache()
	if got, err := FileHash(path); err != nil || got != want {
		t.Errorf("with a forged entry: %q %v, want %s", got, err, want)
	}

	os.Remove(cache)
	if err := syscall.Mkfifo(cache, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	resetHashCache()
	done := make(chan string, 1)
	go func() { got, _ := FileHash(path); done <- got }()
	select {
	case got := <-done:
		if got != want {
			t.Errorf("with a FIFO cache: %q, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		// Unblock the reader so the test process can end.
		if f, err := os.OpenFile(cache, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("FileHash blocked on a FIFO in place of the hash cache")
	}
}
