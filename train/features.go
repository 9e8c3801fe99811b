package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/weights"
)

// The feature cache runs the frozen backbone once per (image, view) and stores the
// pooled 2048-d features on disk, one .npy file per (image, view), so training a head
// takes seconds and an interrupted extraction resumes where it stopped. A cache
// directory is keyed by everything that changes the numbers: the backbone file's
// sha256, the preprocessing, the view mode and its parameters, and the augmentation
// seed; inside it, files are named by the image's content sha256 and the view index.

// ViewMode says how the views of an image are made.
type ViewMode string

const (
	// ViewsEval: view 0 is the model's evaluation transform (resize the shorter side,
	// centre crop); views 1…K−1 are augmented (AugmentParams).
	ViewsEval ViewMode = "eval+augment"
	// ViewsSquash resizes the whole image to Crop×Crop, ignoring its aspect ratio —
	// the original system's preprocessing, kept to replicate its recipe.
	ViewsSquash ViewMode = "squash"
)

// Backbone is a frozen ResNet50 that maps preprocessed NCHW batches to pooled
// features.
type Backbone struct {
	Path   string           // the file holding the backbone weights
	SHA256 string           // of that file
	Meta   weights.Metadata // its metadata; Preprocess is what extraction applies
	Batch  int
	runner *nn.Runner
}

// OpenBackbone opens a model file through model.OpenFile, features only (a head-only file brings
// the cached backbone it names; its own classifier is ignored) and compiles a runner
// for batch images at the model's input size.
func OpenBackbone(path string, batch int) (*Backbone, error) {
	m, err := model.OpenFile(context.Background(), path, model.Options{FeaturesOnly: true})
	if err != nil {
		return nil, fmt.Errorf("train: backbone %s: %w", path, err)
	}
	return newBackbone(m, batch)
}

// newBackbone compiles a runner of m for batch images. Extraction preprocesses with
// the model's own spec (a head-only file's, if it has one), as tag does.
func newBackbone(m *model.Model, batch int) (*Backbone, error) {
	r, err := m.NewRunner(batch)
	if err != nil {
		return nil, fmt.Errorf("train: backbone %s: %w", m.Backbone.Path, err)
	}
	meta := m.Backbone.Meta
	meta.Preprocess = m.Spec
	return &Backbone{Path: m.Backbone.Path, SHA256: m.Backbone.SHA256, Meta: meta, Batch: batch, runner: r}, nil
}

// FindBackbone returns the cached model file whose sha256 is sum (what a head-only
// model file names in backbone_sha256); see model.FindBackbone.
func FindBackbone(sum string) (string, error) {
	p, err := model.FindBackbone(sum)
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	return p, nil
}

// Close releases the runner.
func (b *Backbone) Close() error { return b.runner.Close() }

// forward returns n×2048 features of the first n images of a full batch x.
func (b *Backbone) forward(x []float32, n int) ([]float32, error) {
	f, _, err := b.runner.Forward(x)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), f[:n*nn.FeatureDim]...), nil
}

// ExtractOptions configures ExtractFeatures.
type ExtractOptions struct {
	CacheDir string       // root of the feature cache (e.g. weights.Home()/features)
	Views    int          // K views per image (≥ 1)
	Mode     ViewMode     // ViewsEval (default) or ViewsSquash
	Augment  data.Augment // for views ≥ 1; zero value: data.DefaultAugment(crop)
	Seed     uint64       // augmentation seed
	Progress io.Writer
	Log      *slog.Logger
}

// FeatureKey is the cache directory name of view v's features for a backbone and
// options. The unaugmented view 0 (and squash mode) depend only on the backbone and
// its preprocessing, so evaluation and every training run share them; augmented
// views also depend on the augmentation parameters and seed.
func FeatureKey(b *Backbone, opt ExtractOptions, v int) string {
	spec := keyText(b.Meta.Preprocess)
	h := sha256.New()
	fmt.Fprintf(h, "backbone=%s\npreprocess=%s\nversion=1\n", b.SHA256, spec)
	switch {
	case opt.Mode == ViewsSquash:
		fmt.Fprintf(h, "mode=squash\n")
	case v == 0:
		fmt.Fprintf(h, "mode=eval\n")
	default:
		aug := keyText(opt.Augment)
		fmt.Fprintf(h, "mode=augment\naugment=%s\nseed=%d\n", aug, opt.Seed)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// keyText is v's JSON as it enters a cache key. A value JSON cannot encode (a NaN
// field) falls back to Go syntax, so that two such values still get different keys
// instead of sharing an empty one and each other's cached features.
func keyText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// ExtractFeatures returns K views' features of every record of ds, computing the
// ones missing from the cache. Images that cannot be read are an error naming them
// (the dataset loader has already reported and dropped unreadable files).
func ExtractFeatures(ctx context.Context, b *Backbone, ds *data.Dataset, opt ExtractOptions) (*Features, string, error) {
	if opt.Views < 1 {
		opt.Views = 1
	}
	if opt.Mode == "" {
		opt.Mode = ViewsEval
	}
	if opt.Mode == ViewsSquash && opt.Views != 1 {
		return nil, "", fmt.Errorf("train: squash mode has one view per image, not %d", opt.Views)
	}
	if opt.Augment == (data.Augment{}) {
		opt.Augment = data.DefaultAugment(b.Meta.Preprocess.Crop)
	}
	if err := opt.Augment.Validate(); err != nil {
		return nil, "", fmt.Errorf("train: %w", err)
	}
	dirs := make([]string, opt.Views)
	var keys []string
	for v := range dirs {
		key := FeatureKey(b, opt, v)
		dirs[v] = filepath.Join(opt.CacheDir, key)
		if v < 2 {
			keys = append(keys, key)
		}
		if err := os.MkdirAll(dirs[v], 0o755); err != nil {
			return nil, "", fmt.Errorf("train: feature cache: %w", err)
		}
	}
	key := strings.Join(keys, "+")
	if opt.Log != nil {
		opt.Log.Info("feature cache", "dirs", strings.Join(uniq(dirs), " "), "images", len(ds.Records), "views", opt.Views, "mode", opt.Mode)
	}
	n, k := len(ds.Records), opt.Views
	f := &Features{N: n, K: k, Dim: nn.FeatureDim, Classes: len(ds.Classes), Y: ds.Targets(),
		X: make([]float32, n*k*nn.FeatureDim)}
	// Which (image, view) pairs are missing? Files are named by content, so renamed
	// or re-listed images hit the cache; a file of the wrong size (a crash between
	// write and rename cannot leave one, but a copied cache might) is recomputed.
	type job struct{ img, view int }
	var todo []job
	ids := make([]string, n)
	for i, r := range ds.Records {
		id, err := fileID(r.Path)
		if err != nil {
			return nil, "", fmt.Errorf("train: %s: %w", r.Path, err)
		}
		ids[i] = id
		for v := 0; v < k; v++ {
			p := filepath.Join(dirs[v], fmt.Sprintf("%s.v%d.npy", id, v))
			if x, shape, err := ReadNPY(p); err == nil && len(shape) == 1 && shape[0] == nn.FeatureDim {
				copy(f.X[(i*k+v)*nn.FeatureDim:], x)
				continue
			}
			todo = append(todo, job{i, v})
		}
	}
	f.IDs = ids
	if len(todo) == 0 {
		return f, key, nil
	}
	if opt.Log != nil {
		opt.Log.Info("extracting features", "missing", len(todo), "cached", n*k-len(todo))
	}
	bar := newProgress(opt.Progress, len(todo), "features", opt.Log)
	defer bar.finish()
	spec := b.Meta.Preprocess
	per := 3 * spec.Crop * spec.Crop
	// a producer decodes and preprocesses batches while the backbone runs
	type batch struct {
		jobs []job
		x    []float32
		err  error
	}
	ch := make(chan batch, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(ch)
		var img image.Image
		last := -1
		for lo := 0; lo < len(todo); lo += b.Batch {
			hi := min(lo+b.Batch, len(todo))
			bt := batch{jobs: todo[lo:hi], x: make([]float32, b.Batch*per)}
			for j, jb := range bt.jobs {
				if jb.img != last {
					var err error
					if img, err = data.DecodeFile(ds.Records[jb.img].Path, data.DecodeOptions{}); err != nil {
						bt.err = fmt.Errorf("train: %s: %w", ds.Records[jb.img].Path, err)
						break
					}
					last = jb.img
				}
				if err := makeView(img, spec, opt, ids[jb.img], jb.view, bt.x[j*per:(j+1)*per]); err != nil {
					bt.err = fmt.Errorf("train: %s view %d: %w", ds.Records[jb.img].Path, jb.view, err)
					break
				}
			}
			select {
			case ch <- bt:
			case <-ctx.Done():
				return
			}
			if bt.err != nil {
				return
			}
		}
	}()
	for bt := range ch {
		if bt.err != nil {
			return nil, "", bt.err
		}
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		// A short last batch is padded (zeros); only its first len(jobs) rows count.
		feats, err := b.forward(bt.x, len(bt.jobs))
		if err != nil {
			return nil, "", fmt.Errorf("train: backbone: %w", err)
		}
		for j, jb := range bt.jobs {
			v := feats[j*nn.FeatureDim : (j+1)*nn.FeatureDim]
			copy(f.X[(jb.img*k+jb.view)*nn.FeatureDim:], v)
			p := filepath.Join(dirs[jb.view], fmt.Sprintf("%s.v%d.npy", ids[jb.img], jb.view))
			if err := SaveNPY(p, v, nn.FeatureDim); err != nil {
				return nil, "", fmt.Errorf("train: feature cache: %w", err)
			}
		}
		bar.add(len(bt.jobs))
	}
	return f, key, ctx.Err()
}

func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// fileID is the first 32 hex digits of a file's sha256: identical images share
// cache entries whatever their names.
func fileID(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// makeView writes view v of img, preprocessed for spec, into dst.
func makeView(img image.Image, spec data.Spec, opt ExtractOptions, id string, v int, dst []float32) error {
	switch {
	case opt.Mode == ViewsSquash:
		spec.Squash = true
		return data.Preprocess(img, spec, dst)
	case v == 0:
		return data.Preprocess(img, spec, dst)
	default:
		// data's augmentation draws from (seed, epoch, index): the view plays the
		// epoch and the image's content hash the index, so a view does not depend
		// on where the image sits in the dataset.
		return opt.Augment.ApplyTensor(img, spec, opt.Seed, v, imageIndex(id), dst)
	}
}

// imageIndex maps a content id (hex) to a non-negative int.
func imageIndex(id string) int {
	v, _ := strconv.ParseUint(id[:15], 16, 64)
	return int(v)
}
