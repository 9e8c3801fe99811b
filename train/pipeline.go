package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/jsonnum"
	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/weights"
)

// RunOptions is everything `autotag train` needs.
type RunOptions struct {
	Backbone   string   // native backbone model file (already resolved)
	TrainSpecs []string // one or more dataset SPECs, concatenated (same classes)
	ValSpec    string   // validation SPEC ("" = none: no early stopping or calibration)
	Out        string   // output model file
	Config     Config
	Views      int    // K views per training image (view 0 = eval transform)
	Squash     bool   // the original recipe's squashed inputs (one view, train and val)
	Sampler    string // "none" or "repeat-factor"
	CacheDir   string // feature cache root
	// checkpoints: directory (default Out + ".ckpt"), files kept, batches between
	// mid-epoch checkpoints (0: epoch ends only), and whether to resume
	CheckpointDir   string
	KeepCheckpoints int
	CheckpointEvery int
	Resume          bool
	Bundle          bool    // write the whole network, not just the head
	Calibrate       bool    // per-class thresholds on the validation set
	ThresholdFloor  float32 // lowest calibrated threshold
	MinPositives    int     // classes with fewer validation positives keep threshold 0.5
	MaxPosWeight    float32 // clamp of wbce's pos_weight
	ExportFeatures  string  // directory for train_X.npy, train_Y.npy, val_X.npy, val_Y.npy
	FromFeatures    string  // train on features exported earlier instead of running the backbone
	// Finetune "layer4" also trains the last stage (BN frozen) after the head, for
	// FinetuneEpochs at FinetuneLR on FinetuneViews views per image; the model file
	// is then a bundle.
	Finetune       string
	FinetuneEpochs int
	FinetuneLR     float64
	FinetuneViews  int
	BackboneBatch  int
	Progress       io.Writer
	Log            *slog.Logger
}

// Result summarises a training run.
type Result struct {
	Out        string
	State      *State
	Report     *Report // on the validation set with the stored thresholds (nil without one)
	Thresholds []float32
	Timings    map[string]time.Duration
	Finetune   *FinetuneResult // with --finetune
}

// LoadDatasets loads and concatenates SPECs; all must share one class vocabulary.
func LoadDatasets(specs []string, log *slog.Logger) (*data.Dataset, error) {
	var out *data.Dataset
	for _, s := range specs {
		ds, err := data.Load(s, data.LoadOptions{})
		if err != nil {
			return nil, err
		}
		if ds.Report != nil && ds.Report.Defects() > 0 && log != nil {
			log.Warn("dataset problems", "spec", s, "summary", ds.Report.Summary())
		}
		if len(ds.Records) == 0 {
			return nil, fmt.Errorf("train: dataset %s has no usable images", s)
		}
		if out == nil {
			out = ds
			continue
		}
		if !slices.Equal(out.Classes, ds.Classes) {
			return nil, fmt.Errorf("train: dataset %s has classes %v…, %s has %v…; datasets trained together need the same classes",
				s, head5(ds.Classes), specs[0], head5(out.Classes))
		}
		out = &data.Dataset{Spec: out.Spec + "+" + s, Classes: out.Classes, Records: append(slices.Clip(out.Records), ds.Records...), Report: out.Report}
	}
	if out == nil {
		return nil, fmt.Errorf("train: no dataset given")
	}
	return out, nil
}

func head5(s []string) []string { return s[:min(5, len(s))] }

// Run extracts (or reuses) features, trains the head, calibrates thresholds and
// writes the model file.
func Run(ctx context.Context, o RunOptions) (*Result, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	res := &Result{Out: o.Out, Timings: map[string]time.Duration{}}
	useGemmBLAS()
	// Stage 1: datasets and backbone. Dataset problems (missing files, unknown
	// classes, duplicates) are logged with data's report; unusable SPECs are errors.
	t0 := time.Now()
	trainDS, err := LoadDatasets(o.TrainSpecs, log)
	if err != nil {
		return nil, err
	}
	var valDS *data.Dataset
	if o.ValSpec != "" {
		if valDS, err = LoadDatasets([]string{o.ValSpec}, log); err != nil {
			return nil, err
		}
		if !slices.Equal(valDS.Classes, trainDS.Classes) {
			return nil, fmt.Errorf("train: validation classes differ from the training classes")
		}
	}
	log.Info("datasets", "train_images", len(trainDS.Records), "val_images", lenRecords(valDS), "classes", len(trainDS.Classes))
	var bb *Backbone
	if o.FromFeatures != "" {
		// no backbone run: only its identity, for the model file
		if bb, err = backboneInfo(o.Backbone); err != nil {
			return nil, err
		}
	} else {
		if bb, err = OpenBackbone(o.Backbone, max(1, o.BackboneBatch)); err != nil {
			return nil, err
		}
		defer bb.Close()
	}
	res.Timings["load"] = time.Since(t0)

	// Stage 2: features. The backbone runs only for (image, view) pairs missing from
	// the cache; validation images get the evaluation transform only (one view).
	t0 = time.Now()
	var trainF, valF *Features
	var trainKey, valKey string
	if o.FromFeatures != "" {
		if trainF, valF, err = LoadExported(o.FromFeatures); err != nil {
			return nil, err
		}
		trainKey = "exported:" + o.FromFeatures
		if trainF.N != len(trainDS.Records) || (valF != nil) != (valDS != nil) || (valF != nil && valF.N != len(valDS.Records)) {
			return nil, fmt.Errorf("train: the features in %s do not match the datasets' sizes", o.FromFeatures)
		}
	} else {
		mode := ViewsEval
		views := max(1, o.Views)
		if o.Squash {
			mode, views = ViewsSquash, 1
		}
		eo := ExtractOptions{CacheDir: o.CacheDir, Views: views, Mode: mode, Seed: o.Config.Seed, Progress: o.Progress, Log: log}
		if trainF, trainKey, err = ExtractFeatures(ctx, bb, trainDS, eo); err != nil {
			return nil, err
		}
		if valDS != nil {
			eo.Views = 1
			if valF, valKey, err = ExtractFeatures(ctx, bb, valDS, eo); err != nil {
				return nil, err
			}
		}
	}
	res.Timings["features"] = time.Since(t0)
	if err := checkLeakage(trainF, valF); err != nil {
		return nil, err
	}
	if o.ExportFeatures != "" {
		if err := exportFeatures(o.ExportFeatures, trainF, valF); err != nil {
			return nil, err
		}
	}

	// Stage 3: the head. pos_weight comes from the training labels (data.PosWeights:
	// negatives/positives, clamped), the optional sampler from data's repeat factors.
	t0 = time.Now()
	cfg := o.Config
	if cfg.Loss.UsePosWeight && cfg.PosWeight == nil {
		cfg.PosWeight = data.PosWeights(trainDS, 1, max(1, o.MaxPosWeight))
	}
	switch o.Sampler {
	case "", "none":
	case "repeat-factor":
		rfs, err := data.NewRepeatFactorSampler(trainDS, data.DefaultRepeatThreshold, cfg.Seed)
		if err != nil {
			return nil, err
		}
		cfg.Sampler = rfs.Epoch
		cfg.SamplerName = fmt.Sprintf("repeat-factor(t=%g)", data.DefaultRepeatThreshold)
	default:
		return nil, fmt.Errorf("train: unknown sampler %q (want none or repeat-factor)", o.Sampler)
	}
	loop, err := NewLoop(cfg, trainF, valF)
	if err != nil {
		return nil, err
	}
	// Checkpoints are tied to this run by a fingerprint of the recipe and the feature
	// keys, so --resume never continues a different run.
	ckDir := o.CheckpointDir
	if ckDir == "" {
		ckDir = o.Out + ".ckpt"
	}
	ck := &Checkpointer{Dir: ckDir, Keep: max(1, o.KeepCheckpoints), Fingerprint: Fingerprint(cfg, trainF, valF, trainKey+"/"+valKey), Log: log}
	if o.Resume {
		s, path, err := ck.Latest()
		if err != nil {
			return nil, err
		}
		if s != nil {
			if err := loop.SetState(s); err != nil {
				return nil, err
			}
			log.Info("resuming", "checkpoint", path, "epoch", s.Epoch, "step", s.Step)
		} else {
			log.Info("no checkpoint to resume from; starting afresh", "dir", ckDir)
		}
	}
	loop.Hooks = []Hook{CheckpointHook(ck, o.CheckpointEvery), LogHook(log), ProgressHook(o.Progress, loop, log)}
	st, err := loop.Run(ctx)
	if err != nil {
		return nil, err
	}
	res.State = st
	res.Timings["train"] = time.Since(t0)

	// Stage 4: keep the best epoch's weights, calibrate per-class thresholds on the
	// validation set and write the model file. The validation report uses those same
	// thresholds, so its threshold metrics (CP…OF1) are optimistic; mAP is not
	// affected by thresholds.
	head := st.Best
	var override map[string]*tensor.Dense
	var ftProbs []float32
	switch o.Finetune {
	case "":
	case "layer4":
		// Stage 3b: fine-tune layer4 (BN frozen) together with the head trained above.
		t0 = time.Now()
		ft, err := FinetuneLayer4(ctx, o.Backbone, trainDS, valDS, head, max(1, o.FinetuneViews), o.FinetuneOptions(cfg), o.Progress, log)
		if err != nil {
			return nil, err
		}
		head, override, ftProbs = ft.Head, ft.Tensors, ft.ValProb
		res.Finetune = ft
		res.Timings["finetune"] = time.Since(t0)
	default:
		return nil, fmt.Errorf("train: --finetune %q: only layer4 is supported", o.Finetune)
	}

	t0 = time.Now()
	classes := trainDS.Classes
	var thresholds []float32
	if valF != nil {
		probs := ftProbs
		if probs == nil {
			probs = head.Probabilities(valF.View(0), valF.N)
		}
		if o.Calibrate {
			if thresholds, err = CalibrateThresholds(probs, valF.Y, valF.Classes, o.ThresholdFloor, o.MinPositives); err != nil {
				return nil, err
			}
		}
		if res.Report, err = Evaluate(probs, valF.Y, classes, thresholds); err != nil {
			return nil, err
		}
	}
	res.Thresholds = thresholds
	if err := SaveModel(o.Out, head, bb, classes, thresholds, st, o, override); err != nil {
		return nil, err
	}
	res.Timings["calibrate+save"] = time.Since(t0)
	return res, nil
}

// FinetuneOptions derives the fine-tuning recipe from the head's.
func (o RunOptions) FinetuneOptions(cfg Config) FinetuneOptions {
	return FinetuneOptions{Epochs: max(1, o.FinetuneEpochs), Batch: 16, LR: o.FinetuneLR, WeightDecay: cfg.WeightDecay,
		Seed: cfg.Seed, Loss: cfg.Loss, PosWeight: cfg.PosWeight}
}

// checkLeakage refuses a validation set that shares images (by content) with the
// training set: the original system's split leaked copies of training images into
// validation and reported the inflated score. Near-duplicates are `autotag data
// check`'s job.
func checkLeakage(tr, va *Features) error {
	if va == nil || tr.IDs == nil || va.IDs == nil {
		return nil
	}
	seen := make(map[string]bool, len(tr.IDs))
	for _, id := range tr.IDs {
		seen[id] = true
	}
	n := 0
	for _, id := range va.IDs {
		if seen[id] {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("train: %d of %d validation images are also training images (same file content); remove them (see `autotag data check`) so validation measures generalisation", n, len(va.IDs))
	}
	return nil
}

func lenRecords(d *data.Dataset) int {
	if d == nil {
		return 0
	}
	return len(d.Records)
}

// exportFeatures writes the feature sets as .npy files for the PyTorch reference.
func exportFeatures(dir string, tr, va *Features) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := SaveNPY(filepath.Join(dir, "train_X.npy"), tr.X, tr.N, tr.K, tr.Dim); err != nil {
		return err
	}
	if err := SaveNPY(filepath.Join(dir, "train_Y.npy"), tr.Y, tr.N, tr.Classes); err != nil {
		return err
	}
	if va != nil {
		if err := SaveNPY(filepath.Join(dir, "val_X.npy"), va.X, va.N, va.Dim); err != nil {
			return err
		}
		if err := SaveNPY(filepath.Join(dir, "val_Y.npy"), va.Y, va.N, va.Classes); err != nil {
			return err
		}
	}
	return nil
}

// LoadExported reads features written by exportFeatures (val_* optional).
func LoadExported(dir string) (train, val *Features, err error) {
	x, xs, err := ReadNPY(filepath.Join(dir, "train_X.npy"))
	if err != nil {
		return nil, nil, err
	}
	y, ys, err := ReadNPY(filepath.Join(dir, "train_Y.npy"))
	if err != nil {
		return nil, nil, err
	}
	if len(xs) == 2 {
		xs = []int{xs[0], 1, xs[1]}
	}
	if len(xs) != 3 || len(ys) != 2 || xs[0] != ys[0] {
		return nil, nil, fmt.Errorf("train: %s: train_X %v and train_Y %v do not fit", dir, xs, ys)
	}
	train = &Features{X: x, Y: y, N: xs[0], K: xs[1], Dim: xs[2], Classes: ys[1]}
	vx, vxs, err := ReadNPY(filepath.Join(dir, "val_X.npy"))
	if errors.Is(err, os.ErrNotExist) {
		return train, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	vy, vys, err := ReadNPY(filepath.Join(dir, "val_Y.npy"))
	if err != nil {
		return nil, nil, err
	}
	if len(vxs) != 2 || len(vys) != 2 || vxs[0] != vys[0] {
		return nil, nil, fmt.Errorf("train: %s: val_X %v and val_Y %v do not fit", dir, vxs, vys)
	}
	val = &Features{X: vx, Y: vy, N: vxs[0], K: 1, Dim: vxs[1], Classes: vys[1]}
	return train, val, errors.Join(train.Validate(), val.Validate())
}

// backboneInfo identifies a backbone file without building the network, through
// the model opener (its hash cache, a head-only file's cached backbone), so that it
// names the same backbone OpenBackbone would.
func backboneInfo(path string) (*Backbone, error) {
	id, err := model.Identify(path)
	if err != nil {
		return nil, fmt.Errorf("train: backbone %s: %w", path, err)
	}
	meta := id.Backbone.Meta
	meta.Preprocess = id.Spec
	return &Backbone{Path: id.Backbone.Path, SHA256: id.Backbone.SHA256, Meta: meta}, nil
}

// Metadata keys this package adds to Metadata.Extra.
const (
	MetaTrainHistory = "train_history" // JSON list of EpochStats
	MetaTrainRecipe  = "train_recipe"  // JSON of the recipe (loss, head, epochs, …)
)

// SaveModel writes the trained head as a native model file (DESIGN.md §4): the head
// tensors (fc.weight/fc.bias, or fc.0.*, fc.2.*, … for an MLP), classes, thresholds,
// activation "sigmoid", the backbone's preprocessing and layout, and either
// backbone_sha256 (head-only file; the backbone is found in the cache by its hash) or,
// with Bundle, the backbone's tensors too.
//
// backbone, when not nil, replaces backbone tensors (a fine-tuned layer4) and forces
// a bundle.
func SaveModel(path string, head *Head, bb *Backbone, classes []string, thresholds []float32, st *State, o RunOptions, backbone map[string]*tensor.Dense) error {
	meta := bb.Meta
	meta.Classes = classes
	meta.Thresholds = thresholds
	meta.Head = head.Spec.String()
	meta.Activation = "sigmoid"
	meta.Source = fmt.Sprintf("autotag train on %s (backbone %s)", strings.Join(o.TrainSpecs, " + "), filepath.Base(bb.Path))
	meta.CreatedBy = ""
	meta.Extra = map[string]string{}
	if st != nil {
		// Metrics a run did not measure (no validation set) are null; the rest
		// are rounded as every JSON autotag writes.
		hj, err := jsonnum.Marshal(st.History)
		if err != nil {
			return fmt.Errorf("train: encode the training history: %w", err)
		}
		meta.Extra[MetaTrainHistory] = string(hj)
	}
	// The recipe keeps the numbers as given (a small weight decay must not round to 0).
	recipe, err := json.Marshal(map[string]any{"loss": o.Config.Loss.Name, "head": head.Spec.String(), "epochs": o.Config.Epochs,
		"batch": o.Config.Batch, "lr": o.Config.LR, "wd": o.Config.WeightDecay, "seed": o.Config.Seed, "views": o.Views,
		"sampler": o.Sampler, "squash": o.Squash, "best_epoch": bestEpoch(st)})
	if err != nil {
		return fmt.Errorf("train: encode the training recipe: %w", err)
	}
	meta.Extra[MetaTrainRecipe] = string(recipe)
	// A squash-trained head must be served with the squash: it travels in the
	// preprocessing spec, which tag, serve and eval all apply.
	meta.Preprocess.Squash = o.Squash
	if backbone != nil {
		meta.Extra["finetuned"] = o.Finetune
	}
	ts := head.Tensors()
	if o.Bundle || backbone != nil {
		m, err := weights.Load(bb.Path)
		if err != nil {
			return err
		}
		for name, t := range m.Tensors {
			if !strings.HasPrefix(name, "fc.") {
				ts[name] = t
			}
		}
		for name, t := range backbone {
			if _, ok := ts[name]; !ok {
				return fmt.Errorf("train: fine-tuned tensor %s is not in the backbone", name)
			}
			ts[name] = t
		}
		meta.BackboneSHA256 = ""
	} else {
		meta.BackboneSHA256 = bb.SHA256
	}
	if err := weights.Save(path, &weights.Model{Meta: meta, Tensors: ts}); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

func bestEpoch(s *State) int {
	if s == nil {
		return 0
	}
	return s.BestEpoch
}

// LoadHead reads a model file written by SaveModel (head-only or bundled) and
// returns its head and metadata.
func LoadHead(path string) (*Head, weights.Metadata, error) {
	m, err := weights.Load(path)
	if err != nil {
		return nil, weights.Metadata{}, err
	}
	fc := map[string]*tensor.Dense{}
	for name, t := range m.Tensors {
		if strings.HasPrefix(name, "fc.") {
			fc[name] = t
		}
	}
	h, err := HeadFromTensors(m.Meta.Head, 0, fc)
	if err != nil {
		return nil, m.Meta, fmt.Errorf("%s: %w", path, err)
	}
	return h, m.Meta, nil
}
