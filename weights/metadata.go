package weights

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/autotag/autotag/data/spec"
)

// Metadata keys of a native model file (DESIGN.md §4).
const (
	keyFormat         = "format"
	keyFormatVersion  = "format_version"
	keyArch           = "arch"
	keyLayout         = "layout"
	keyBNEps          = "bn_eps"
	keyPreprocess     = "preprocess"
	keyClasses        = "classes"
	keyThresholds     = "thresholds"
	keyHead           = "head"
	keyActivation     = "activation"
	keyBackboneSHA256 = "backbone_sha256"
	keySource         = "source"
	keyCreatedBy      = "created_by"
)

// knownKeys are the keys Metadata stores in named fields; all others go to Extra.
var knownKeys = map[string]bool{
	keyFormat: true, keyFormatVersion: true, keyArch: true, keyLayout: true, keyBNEps: true,
	keyPreprocess: true, keyClasses: true, keyThresholds: true, keyHead: true, keyActivation: true,
	keyBackboneSHA256: true, keySource: true, keyCreatedBy: true,
}

// Strings encodes m as the string→string __metadata__ map of a safetensors file:
// scalars as text, Preprocess, Classes and Thresholds as JSON, Extra verbatim.
// Empty optional fields are omitted. An Extra key that collides with a named field is
// an error.
func (m Metadata) Strings() (map[string]string, error) {
	out := map[string]string{}
	for k, v := range m.Extra {
		if knownKeys[k] {
			return nil, fmt.Errorf("metadata Extra key %q collides with a named field", k)
		}
		out[k] = v
	}
	put := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	put(keyFormat, m.Format)
	put(keyFormatVersion, m.FormatVersion)
	put(keyArch, m.Arch)
	put(keyLayout, m.Layout)
	if m.BNEps != 0 {
		put(keyBNEps, strconv.FormatFloat(m.BNEps, 'g', -1, 64))
	}
	if m.Preprocess != (spec.Preprocess{}) {
		b, err := json.Marshal(m.Preprocess)
		if err != nil {
			return nil, fmt.Errorf("metadata preprocess: %w", err)
		}
		put(keyPreprocess, string(b))
	}
	if m.Classes != nil {
		b, _ := json.Marshal(m.Classes)
		put(keyClasses, string(b))
	}
	if m.Thresholds != nil {
		b, err := json.Marshal(m.Thresholds)
		if err != nil {
			return nil, fmt.Errorf("metadata thresholds: %w", err)
		}
		put(keyThresholds, string(b))
	}
	put(keyHead, m.Head)
	put(keyActivation, m.Activation)
	put(keyBackboneSHA256, m.BackboneSHA256)
	put(keySource, m.Source)
	put(keyCreatedBy, m.CreatedBy)
	return out, nil
}

// ParseMetadata decodes a __metadata__ map written by Metadata.Strings. Unknown keys
// land in Extra; a malformed value of a known key is an error naming the key.
func ParseMetadata(kv map[string]string) (Metadata, error) {
	var m Metadata
	for k, v := range kv {
		var err error
		switch k {
		case keyFormat:
			m.Format = v
		case keyFormatVersion:
			m.FormatVersion = v
		case keyArch:
			m.Arch = v
		case keyLayout:
			m.Layout = v
		case keyBNEps:
			m.BNEps, err = strconv.ParseFloat(v, 64)
		case keyPreprocess:
			err = json.Unmarshal([]byte(v), &m.Preprocess)
		case keyClasses:
			err = json.Unmarshal([]byte(v), &m.Classes)
		case keyThresholds:
			if err = json.Unmarshal([]byte(v), &m.Thresholds); err == nil {
				err = checkThresholds(m.Thresholds)
			}
		case keyHead:
			m.Head = v
		case keyActivation:
			m.Activation = v
		case keyBackboneSHA256:
			m.BackboneSHA256 = v
			if len(v) != 64 || strings.Trim(strings.ToLower(v), "0123456789abcdef") != "" {
				// Errors and listings show it: it must be what it claims to be.
				err = errors.New("want 64 hexadecimal digits (a sha256)")
			}
		case keySource:
			m.Source = v
		case keyCreatedBy:
			m.CreatedBy = v
		default:
			if m.Extra == nil {
				m.Extra = map[string]string{}
			}
			m.Extra[k] = v
		}
		if err != nil {
			return Metadata{}, fmt.Errorf("metadata %q: %w", k, err)
		}
	}
	return m, nil
}

// createdBy is the "created_by" value of files this build writes: "autotag" plus the
// module version when the binary was built from a tagged module.
func createdBy() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return "autotag " + bi.Main.Version
	}
	return "autotag"
}

// checkThresholds refuses per-class thresholds that are not probabilities: a
// negative one would report its class on every photo, and one above 1 never.
func checkThresholds(th []float32) error {
	for i, t := range th {
		if !(t >= 0 && t <= 1) {
			return fmt.Errorf("threshold %d is %v, want a number from 0 to 1", i, t)
		}
	}
	return nil
}
