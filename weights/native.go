package weights

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/atomicfile"
)

// Load reads a native autotag model file: safetensors whose __metadata__ says
// format "autotag-model". Floating-point tensors of any width are returned as
// float32; a file of another format, or from a newer format version, is an error
// that says how to convert it.
func Load(path string) (*Model, error) {
	f, h, err := openSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	defer f.Close()
	meta, err := ParseMetadata(h.Meta)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	if meta.Format != FormatName {
		return nil, fmt.Errorf("loading model %s: not an autotag model file (metadata format %q, want %q); convert it with `autotag weights import %s`",
			path, meta.Format, FormatName, path)
	}
	if meta.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("loading model %s: format version %q is not supported by this autotag (reads version %s)", path, meta.FormatVersion, FormatVersion)
	}
	for _, t := range h.Tensors {
		if !isFloatDType(t.DType) {
			return nil, fmt.Errorf("loading model %s: tensor %q has dtype %s, want a float type", path, t.Name, t.DType)
		}
	}
	if math.IsNaN(meta.BNEps) || math.IsInf(meta.BNEps, 0) || meta.BNEps < 0 {
		return nil, fmt.Errorf("loading model %s: metadata bn_eps %v: want a finite value ≥ 0", path, meta.BNEps)
	}
	ts, err := readAllTensors(f, h)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	if err := checkFinite(ts); err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	return &Model{Meta: meta, Tensors: ts}, nil
}

// ReadMetadata reads only the metadata of a native model file (cheap: the tensor
// data is not read).
func ReadMetadata(path string) (Metadata, error) {
	f, h, err := openSafetensors(path)
	if err != nil {
		return Metadata{}, err
	}
	f.Close()
	return ParseMetadata(h.Meta)
}

// Save writes m to path as a native model file, atomically (temporary file in the
// same directory, fsync, rename). Format, FormatVersion and CreatedBy are filled in
// when empty. Every tensor must be float32; classes and thresholds must agree with
// the fc layer when both are present.
func Save(path string, m *Model) error {
	kv, err := nativeMetadata(m)
	if err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	err = atomicfile.Write(path, func(f *os.File) error { return writeSafetensors(f, m.Tensors, kv) })
	if err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	return nil
}

// nativeSHA256 is the sha256 of the file Save would write for m (the encoding is
// deterministic: tensors and metadata keys in name order).
func nativeSHA256(m *Model) (string, error) {
	kv, err := nativeMetadata(m)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := writeSafetensors(h, m.Tensors, kv); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// nativeMetadata checks m as Save promises and returns the metadata strings Save
// writes, with Format, FormatVersion and CreatedBy filled in when empty.
func nativeMetadata(m *Model) (map[string]string, error) {
	if m == nil {
		return nil, fmt.Errorf("nil model")
	}
	meta := m.Meta
	if meta.Format == "" {
		meta.Format = FormatName
	}
	if meta.FormatVersion == "" {
		meta.FormatVersion = FormatVersion
	}
	if meta.CreatedBy == "" {
		meta.CreatedBy = createdBy()
	}
	if err := checkModel(meta, m.Tensors); err != nil {
		return nil, err
	}
	return meta.Strings()
}

// checkModel checks the invariants Save promises.
func checkModel(meta Metadata, ts map[string]*tensor.Dense) error {
	if len(ts) == 0 {
		return fmt.Errorf("model has no tensors")
	}
	for name, d := range ts {
		if d == nil {
			return fmt.Errorf("tensor %q is nil", name)
		}
		if d.Dtype() != tensor.Float32 {
			return fmt.Errorf("tensor %q is %v, want float32", name, d.Dtype())
		}
	}
	if err := checkFinite(ts); err != nil {
		return err
	}
	if meta.Thresholds != nil && len(meta.Thresholds) != len(meta.Classes) {
		return fmt.Errorf("%d thresholds for %d classes", len(meta.Thresholds), len(meta.Classes))
	}
	if b, ok := ts["fc.bias"]; ok && meta.Classes != nil && b.Shape().TotalSize() != len(meta.Classes) {
		return fmt.Errorf("fc.bias has %d outputs but metadata lists %d classes", b.Shape().TotalSize(), len(meta.Classes))
	}
	return nil
}
