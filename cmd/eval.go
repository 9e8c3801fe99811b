package cmd

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/internal/atomicfile"
	"github.com/autotag/autotag/internal/jsonnum"
	"github.com/autotag/autotag/train"
	"github.com/autotag/autotag/weights"
)

func newEvalCmd() *cobra.Command {
	var (
		model, spec, jsonOut, plots, cache string
		threshold                          float32
		worst, batch                       int
		quiet, force                       bool
	)
	c := &cobra.Command{
		Use:   "eval --model M --data SPEC [--json FILE] [--plots DIR]",
		Short: "Measure a trained multi-label model: mAP, per-class AP, CP/CR/CF1, OP/OR/OF1",
		Long: "Evaluate a model written by `autotag train` on a labelled dataset, with the model's\n" +
			"own preprocessing and per-class thresholds. Reports mAP (mean over the classes that\n" +
			"have at least one positive, count stated), per-class AP, CP/CR/CF1 and OP/OR/OF1 at\n" +
			"the thresholds, per-label accuracy beside the all-negative predictor's (on COCO a\n" +
			"model that never tags anything already scores about 96 %), and the worst classes.\n" +
			"--plots writes loss curves, per-class AP bars and precision-recall curves (PNG).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if model == "" || spec == "" {
				return withExitCode(2, fmt.Errorf("eval: --model and --data are required"))
			}
			if jsonOut != "" {
				// checked before the (long) evaluation, not after it
				if err := refuseExisting(jsonOut, "--json", force); err != nil {
					return withExitCode(2, fmt.Errorf("eval: %w", err))
				}
			}
			path, err := weights.Resolve(model)
			if err != nil {
				return err
			}
			if cache == "" {
				cache = filepath.Join(weights.Home(), "features")
			}
			o := train.EvalOptions{CacheDir: cache, BackboneBatch: batch, Threshold: threshold,
				Log: slog.New(slog.NewTextHandler(c.ErrOrStderr(), nil))}
			if quiet {
				o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
			} else {
				o.Progress = os.Stderr
			}
			res, err := train.EvalModel(c.Context(), path, spec, o)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "model %s (head %s) on %s\n", res.Model, res.Head, res.Data)
			if err := train.WriteReport(w, res.Report, worst); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nat threshold 0.5 for every class: ")
			train.WriteSummary(w, res.AtHalf)
			if jsonOut != "" {
				if err := writeEvalJSON(jsonOut, res); err != nil {
					return err
				}
			}
			if plots != "" {
				probs, y := res.Probabilities()
				files, err := train.WritePlots(plots, res.Report, res.History, probs, y)
				if err != nil {
					return err
				}
				for _, f := range files {
					fmt.Fprintln(w, "plot:", f)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "model file written by autotag train (or its cached name)")
	f.StringVar(&spec, "data", "", "labelled dataset SPEC (coco:…, kaggle:…, yolo:…, csv:…)")
	f.StringVar(&jsonOut, "json", "", "also write the full report as JSON to this file (numbers rounded: metrics to 4 decimals); an existing file is kept unless --force")
	f.BoolVar(&force, "force", false, "replace an existing --json file")
	f.StringVar(&plots, "plots", "", "write PNG plots into this directory")
	f.StringVar(&cache, "cache", "", "feature cache directory (default $AUTOTAG_HOME/features)")
	f.Float32Var(&threshold, "threshold", 0, "one threshold for every class instead of the model's calibrated ones")
	f.IntVar(&worst, "worst", 10, "how many of the worst classes to list")
	f.IntVar(&batch, "backbone-batch", 8, "images per backbone forward pass")
	f.BoolVar(&quiet, "quiet", false, "no progress or logs")
	return c
}

// writeEvalJSON writes the evaluation report as indented JSON with its numbers
// rounded (jsonnum.Default: metrics to 4 decimals), replacing path atomically.
func writeEvalJSON(path string, res *train.EvalResult) error {
	b, err := jsonnum.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := atomicfile.WriteBytes(path, append(b, '\n')); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}
