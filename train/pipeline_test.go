package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autotag/autotag/data/spec"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/weights"
)

// TestRunFromFeatures runs the whole `autotag train` pipeline except the backbone:
// datasets from CSV SPECs, exported features, training with validation, threshold
// calibration and the model file, which must load back with the same head, classes,
// thresholds and backbone sha256.
func TestRunFromFeatures(t *testing.T) {
	dir := t.TempDir()
	classes := []string{"a", "b", "c", "d"}
	tr := synthFeatures(1, 60, 2, 16, 4)
	va := synthFeatures(2, 30, 1, 16, 4)
	datasetSpec := func(name string, f *Features) string {
		var b strings.Builder
		b.WriteString("file,tags\n")
		for i := 0; i < f.N; i++ {
			img := fmt.Sprintf("%s%03d.jpg", name, i)
			if err := os.WriteFile(filepath.Join(dir, img), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			var tags []string
			for k := range classes {
				if f.Y[i*4+k] > 0 {
					tags = append(tags, classes[k])
				}
			}
			fmt.Fprintf(&b, "%s,%s\n", img, strings.Join(tags, ";"))
		}
		names := filepath.Join(dir, "names.txt")
		_ = os.WriteFile(names, []byte(strings.Join(classes, "\n")+"\n"), 0o644)
		csv := filepath.Join(dir, name+".csv")
		_ = os.WriteFile(csv, []byte(b.String()), 0o644)
		return "csv:" + csv + ":" + dir + ":" + names
	}
	feats := filepath.Join(dir, "feats")
	if err := exportFeatures(feats, tr, va); err != nil {
		t.Fatal(err)
	}
	// a stand-in backbone file: only its metadata and hash are used here
	bbPath := filepath.Join(dir, "backbone.safetensors")
	bbMeta := weights.Metadata{Arch: "resnet50", Layout: weights.LayoutKerasV1, BNEps: 1e-3, Preprocess: spec.Caffe(), Activation: "softmax"}
	if err := weights.Save(bbPath, &weights.Model{Meta: bbMeta, Tensors: map[string]*tensor.Dense{
		"conv1.weight": tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))}}); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	cfg.Loss, _ = NewLoss("wbce")
	cfg.Head, _ = ParseHead("mlp:8")
	out := filepath.Join(dir, "head.safetensors")
	res, err := Run(context.Background(), RunOptions{Backbone: bbPath, TrainSpecs: []string{datasetSpec("tr", tr)}, ValSpec: datasetSpec("va", va),
		Out: out, Config: cfg, Views: 2, FromFeatures: feats, Calibrate: true, ThresholdFloor: 0.05, MaxPosWeight: 10, KeepCheckpoints: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Report == nil || res.Report.MAP < 0.5 || len(res.Thresholds) != 4 {
		t.Fatalf("report %+v, thresholds %v", res.Report, res.Thresholds)
	}
	h, meta, err := LoadHead(out)
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := weights.FileSHA256(bbPath)
	if meta.BackboneSHA256 != sum || meta.Activation != "sigmoid" || meta.Head != "mlp:8" || !slices.Equal(meta.Classes, classes) ||
		!slices.Equal(meta.Thresholds, res.Thresholds) || meta.Preprocess != spec.Caffe() || meta.Extra[MetaTrainHistory] == "" {
		t.Fatalf("metadata %+v", meta)
	}
	if !sameHead(h, res.State.Best) {
		t.Fatal("the saved head differs from the best epoch's")
	}
	// --resume with a finished run's checkpoints trains nothing more and gives the same head
	res2, err := Run(context.Background(), RunOptions{Backbone: bbPath, TrainSpecs: []string{datasetSpec("tr", tr)}, ValSpec: datasetSpec("va", va),
		Out: out, Config: cfg, Views: 2, FromFeatures: feats, Calibrate: true, ThresholdFloor: 0.05, MaxPosWeight: 10, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if !sameHead(res2.State.Best, res.State.Best) || res2.State.Step != res.State.Step {
		t.Fatal("resuming a finished run changed it")
	}
}

func TestCheckLeakage(t *testing.T) {
	tr := &Features{IDs: []string{"a", "b", "c"}}
	if err := checkLeakage(tr, &Features{IDs: []string{"d", "e"}}); err != nil {
		t.Fatal(err)
	}
	err := checkLeakage(tr, &Features{IDs: []string{"d", "b"}})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 validation images") {
		t.Fatalf("err = %v", err)
	}
}
