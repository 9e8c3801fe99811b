package train

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/weights"
)

// saveModelBackbone is a stand-in backbone: SaveModel of a head-only file uses
// only its metadata and hash.
func saveModelBackbone() *Backbone {
	return &Backbone{Path: "backbone.safetensors", SHA256: strings.Repeat("0", 64),
		Meta: weights.Metadata{Arch: "resnet50", Layout: weights.LayoutKerasV1, BNEps: 1e-3, Preprocess: spec.Caffe(), Activation: "softmax"}}
}

// TestSaveModelHistoryWithoutValidation: a run without a validation set has no
// val_loss or val_map; its model still records every epoch (unmeasured metrics
// null, the others rounded as autotag's other JSON) and reads back.
func TestSaveModelHistoryWithoutValidation(t *testing.T) {
	cfg := smallConfig()
	cfg.Epochs = 3
	l, err := NewLoop(cfg, synthFeatures(1, 40, 1, 16, 4), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != 3 || !math.IsNaN(st.History[0].ValMAP) {
		t.Fatalf("history %+v: want 3 epochs without validation metrics", st.History)
	}
	out := filepath.Join(t.TempDir(), "head.safetensors")
	if err := SaveModel(out, st.Best, saveModelBackbone(), []string{"a", "b", "c", "d"}, nil, st, RunOptions{Config: cfg}, nil); err != nil {
		t.Fatal(err)
	}
	meta, err := weights.ReadMetadata(out)
	if err != nil {
		t.Fatal(err)
	}
	raw := meta.Extra[MetaTrainHistory]
	var rows []struct {
		Epoch     int
		TrainLoss *float64 `json:"train_loss"`
		ValMAP    *float64 `json:"val_map"`
		LR        *float64 `json:"lr"`
	}
	if err := json.Unmarshal([]byte(raw), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("train_history %q: %v", raw, err)
	}
	for _, r := range rows {
		if r.TrainLoss == nil || r.ValMAP != nil || r.LR == nil {
			t.Errorf("epoch %d: train loss %v, val mAP %v, lr %v", r.Epoch, r.TrainLoss, r.ValMAP, r.LR)
			continue
		}
		if s := strconv.FormatFloat(*r.TrainLoss, 'f', -1, 64); len(s) > len("0.1234") {
			t.Errorf("epoch %d: train loss %s is not rounded", r.Epoch, s)
		}
	}
	var back []EpochStats
	if err := json.Unmarshal([]byte(raw), &back); err != nil || len(back) != 3 || !math.IsNaN(back[2].ValLoss) {
		t.Errorf("history does not read back: %v %+v", err, back)
	}
}

// TestSaveModelRefusesUnencodableRecipe: a recipe that cannot be written as JSON
// is an error, not a model saved without it.
func TestSaveModelRefusesUnencodableRecipe(t *testing.T) {
	cfg := smallConfig()
	cfg.WeightDecay = math.NaN()
	out := filepath.Join(t.TempDir(), "head.safetensors")
	head := NewHead(cfg.Head, 16, 4, 1)
	err := SaveModel(out, head, saveModelBackbone(), []string{"a", "b", "c", "d"}, nil, nil, RunOptions{Config: cfg}, nil)
	if err == nil || !strings.Contains(err.Error(), "recipe") {
		t.Fatalf("SaveModel with a NaN weight decay: %v, want an error about the recipe", err)
	}
}

// TestNewLoopRefusesNonFiniteRates: NaN and infinite rates are refused before
// training (NaN slips past a plain "≤ 0" check).
func TestNewLoopRefusesNonFiniteRates(t *testing.T) {
	tr := synthFeatures(1, 20, 1, 8, 2)
	for name, set := range map[string]func(*Config){
		"lr NaN":     func(c *Config) { c.LR = math.NaN() },
		"lr +Inf":    func(c *Config) { c.LR = math.Inf(1) },
		"min lr NaN": func(c *Config) { c.MinLR = math.NaN() },
		"wd NaN":     func(c *Config) { c.WeightDecay = math.NaN() },
		"wd -1":      func(c *Config) { c.WeightDecay = -1 },
		"warmup Inf": func(c *Config) { c.WarmupEpochs = math.Inf(1) },
	} {
		cfg := smallConfig()
		set(&cfg)
		if _, err := NewLoop(cfg, tr, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestFeatureKeyUnencodableAugment: augmentations JSON cannot encode still get
// keys of their own, never one shared empty key (and so each other's features).
func TestFeatureKeyUnencodableAugment(t *testing.T) {
	bb := saveModelBackbone()
	a, b := data.DefaultAugment(224), data.DefaultAugment(224)
	a.Brightness, b.Contrast = math.NaN(), math.NaN()
	ka := FeatureKey(bb, ExtractOptions{Views: 2, Augment: a}, 1)
	kb := FeatureKey(bb, ExtractOptions{Views: 2, Augment: b}, 1)
	if ka == kb {
		t.Fatalf("two different augmentations share the feature cache key %s", ka)
	}
	if FeatureKey(bb, ExtractOptions{Views: 2, Augment: a}, 1) != ka {
		t.Fatal("the key is not deterministic")
	}
}
