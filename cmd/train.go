package cmd

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/train"
	"github.com/autotag/autotag/weights"
)

func newTrainCmd() *cobra.Command {
	var (
		o               train.RunOptions
		model           string
		lossName        string
		headSpec        string
		preset          string
		quiet           bool
		force           bool
		keepCheckpoints bool
	)
	cfg := train.DefaultConfig()
	c := &cobra.Command{
		Use:   "train --train SPEC [--val SPEC] --out FILE",
		Short: "Fine-tune a multi-label head on the frozen ResNet50 (feature cache, wbce/asl/focal, AdamW, cosine)",
		Long: "Train a multi-label classifier head on top of the pretrained ResNet50.\n\n" +
			"The frozen backbone runs once per (image, view) and its pooled 2048-d features are\n" +
			"cached on disk (view 0 = the model's evaluation transform, views 1..K-1 random\n" +
			"resized crops + flips), so later runs with other head settings take seconds. The head\n" +
			"(linear, or --head mlp:1024,512) trains in Gorgonia with AdamW and a cosine schedule\n" +
			"with warm-up; early stopping keeps the epoch with the best validation mAP; per-class\n" +
			"thresholds are calibrated on the validation set (max F1, with a floor). The output is\n" +
			"a model file holding the head, classes and thresholds and the backbone's sha256\n" +
			"(or the whole network with --bundle): `autotag tag --model FILE` uses it.\n\n" +
			"Dataset SPECs (repeat --train to concatenate):\n" +
			"  coco:ANNOTATIONS.json:IMAGE_DIR   kaggle:LABELS.csv:CATEGORIES.csv:IMAGE_DIR\n" +
			"  yolo:IMAGE_DIR:LABEL_DIR[:NAMES]  csv:FILE.csv:IMAGE_DIR[:NAMES]\n\n" +
			"--preset original replicates the original system's recipe for comparison: squashed\n" +
			"224 inputs, a 2048-1024-512 MLP, focal loss, 3 epochs of Keras-default Adam (constant\n" +
			"1e-3, batch 32, no weight decay), no threshold calibration.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(o.TrainSpecs) == 0 || o.Out == "" {
				return withExitCode(2, fmt.Errorf("train: --train and --out are required"))
			}
			// checked before hours of training, not when the model is written
			if err := refuseExisting(o.Out, "--out", force || o.Resume); err != nil {
				return withExitCode(2, fmt.Errorf("train: %w", err))
			}
			if o.CheckpointDir == "" {
				o.CheckpointDir = o.Out + ".ckpt"
			}
			switch preset {
			case "":
			case "original":
				// Keras defaults of the original: Adam at a constant 1e-3, no weight
				// decay, batch 32, no warm-up; 3 epochs.
				lossName, headSpec, o.Squash, o.Calibrate = "focal", "mlp:1024,512", true, false
				for name, set := range map[string]func(){
					"epochs": func() { cfg.Epochs = 3 }, "batch": func() { cfg.Batch = 32 },
					"wd": func() { cfg.WeightDecay = 0 }, "warmup": func() { cfg.WarmupEpochs = 0 },
				} {
					if !c.Flags().Changed(name) {
						set()
					}
				}
				if !c.Flags().Changed("min-lr") {
					cfg.MinLR = cfg.LR
				}
				cfg.Patience = 0
			default:
				return withExitCode(2, fmt.Errorf("train: unknown --preset %q (want original)", preset))
			}
			var err error
			if cfg.Loss, err = train.NewLoss(lossName); err != nil {
				return withExitCode(2, err)
			}
			if cfg.Head, err = train.ParseHead(headSpec); err != nil {
				return withExitCode(2, err)
			}
			if o.Backbone, err = weights.Resolve(model); err != nil {
				return err
			}
			if o.CacheDir == "" {
				o.CacheDir = filepath.Join(weights.Home(), "features")
			}
			o.Config = cfg
			o.Log = slog.New(slog.NewTextHandler(c.ErrOrStderr(), nil))
			if quiet {
				o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
			} else {
				o.Progress = os.Stderr
			}
			start := time.Now()
			ck := &train.Checkpointer{Dir: o.CheckpointDir}
			res, err := train.Run(c.Context(), o)
			if err != nil {
				// The checkpoints are what --resume continues from.
				if files, _ := ck.Files(); len(files) > 0 {
					fmt.Fprintf(c.ErrOrStderr(), "autotag: checkpoints kept in %s: run the same command with --resume to continue\n", o.CheckpointDir)
				}
				return err
			}
			if !keepCheckpoints {
				if err := ck.Clear(); err != nil {
					fmt.Fprintf(c.ErrOrStderr(), "autotag: %v\n", err)
				}
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "wrote %s (head %s, loss %s, best epoch %d of %d)\n", res.Out, cfg.Head, cfg.Loss.Name, res.State.BestEpoch, len(res.State.History))
			if res.Report != nil {
				fmt.Fprintf(w, "validation (%d images): ", res.Report.Images)
				train.WriteSummary(w, res.Report)
			}
			ft := ""
			if d, ok := res.Timings["finetune"]; ok {
				ft = fmt.Sprintf(", finetune %s", d.Round(time.Millisecond))
			}
			fmt.Fprintf(w, "time: load %s, features %s, train %s%s, calibrate+save %s, total %s\n",
				res.Timings["load"].Round(time.Millisecond), res.Timings["features"].Round(time.Millisecond),
				res.Timings["train"].Round(time.Millisecond), ft, res.Timings["calibrate+save"].Round(time.Millisecond),
				time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f := c.Flags()
	f.StringArrayVar(&o.TrainSpecs, "train", nil, "training dataset SPEC (repeatable)")
	f.StringVar(&o.ValSpec, "val", "", "validation dataset SPEC (early stopping, thresholds)")
	f.StringVar(&o.Out, "out", "", "output model file (.safetensors); an existing file is kept unless --force (or --resume)")
	f.BoolVar(&force, "force", false, "replace an existing --out file")
	f.StringVar(&model, "model", "", "backbone model file or cached name (default: resnet50-keras)")
	f.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "maximum epochs")
	f.StringVar(&lossName, "loss", "wbce", "loss: wbce (weighted BCE), asl (asymmetric) or focal")
	f.StringVar(&headSpec, "head", "linear", "head: linear or mlp:H1,H2,...")
	f.IntVar(&o.Views, "views", 3, "views per training image in the feature cache (view 0 unaugmented)")
	f.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate")
	f.Float64Var(&cfg.MinLR, "min-lr", cfg.MinLR, "learning rate at the end of the cosine schedule (= --lr: constant)")
	f.Float64Var(&cfg.WeightDecay, "wd", cfg.WeightDecay, "decoupled weight decay")
	f.Float64Var(&cfg.WarmupEpochs, "warmup", cfg.WarmupEpochs, "warm-up epochs")
	f.IntVar(&cfg.Batch, "batch", cfg.Batch, "minibatch size")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of initialisation, shuffling and augmentation")
	f.IntVar(&cfg.Patience, "patience", cfg.Patience, "stop after this many epochs without a better validation mAP (0: never)")
	f.StringVar(&o.Sampler, "sampler", "none", "sampler: none or repeat-factor (class-balanced, LVIS)")
	f.BoolVar(&o.Resume, "resume", false, "continue from the last complete checkpoint")
	f.StringVar(&o.CheckpointDir, "checkpoints", "", "checkpoint directory (default OUT.ckpt); its checkpoints are removed after a successful run unless --keep-checkpoints, and kept after a failure or interrupt for --resume")
	f.BoolVar(&keepCheckpoints, "keep-checkpoints", false, "keep the checkpoints after a successful run")
	f.IntVar(&o.KeepCheckpoints, "keep", 3, "checkpoint files kept while training (older ones are rotated out)")
	f.IntVar(&o.CheckpointEvery, "checkpoint-every", 0, "also checkpoint every N batches (0: at epoch ends only)")
	f.BoolVar(&o.Bundle, "bundle", false, "write the whole network, not just the head")
	f.BoolVar(&o.Calibrate, "calibrate", true, "calibrate per-class thresholds on the validation set")
	f.Float32Var(&o.ThresholdFloor, "threshold-floor", 0.1, "lowest calibrated threshold")
	f.IntVar(&o.MinPositives, "calibrate-min-positives", 3, "classes with fewer validation positives keep threshold 0.5")
	f.Float32Var(&o.MaxPosWeight, "max-pos-weight", 30, "clamp of wbce's per-class pos_weight")
	f.StringVar(&o.CacheDir, "cache", "", "feature cache directory (default $AUTOTAG_HOME/features)")
	f.StringVar(&o.ExportFeatures, "export-features", "", "also write the features as .npy files into this directory")
	f.StringVar(&o.Finetune, "finetune", "", "\"layer4\": after the head, also fine-tune the last stage (BN frozen); writes a bundle")
	f.IntVar(&o.FinetuneEpochs, "finetune-epochs", 5, "epochs of --finetune")
	f.Float64Var(&o.FinetuneLR, "finetune-lr", 1e-4, "peak learning rate of --finetune")
	f.IntVar(&o.FinetuneViews, "finetune-views", 2, "views per training image for --finetune (layer3 activations kept in memory, 0.8 MB each)")
	f.StringVar(&o.FromFeatures, "from-features", "", "train on features exported earlier with --export-features (no backbone run)")
	f.IntVar(&o.BackboneBatch, "backbone-batch", 8, "images per backbone forward pass")
	f.StringVar(&preset, "preset", "", "\"original\": the original system's recipe, for comparison")
	f.BoolVar(&quiet, "quiet", false, "no progress or logs")
	return c
}
