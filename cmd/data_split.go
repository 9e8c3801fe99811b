package cmd

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/data"
)

func newDataSplitCmd() *cobra.Command {
	var val float64
	var seed uint64
	var maxDist, workers int
	var out string
	var force bool
	c := &cobra.Command{
		Use:   "split SPEC --out DIR",
		Short: "Split a dataset into train and val without leakage",
		Long: "Split a dataset so that identical and near-duplicate images never straddle the\n" +
			"split: images are grouped by content SHA-256 and perceptual hash, and whole groups\n" +
			"go to one side, chosen by a seeded hash of the content. Writes DIR/train.csv,\n" +
			"DIR/val.csv and DIR/names.txt and prints the two csv: SPECs for\n" +
			"`autotag train --train SPEC --val SPEC`. Image paths in the csv files are relative\n" +
			"to the folder holding all the images (relative to the working directory when it is\n" +
			"below it), so a folder holding both the images and DIR can be moved. Existing\n" +
			"files there are kept unless --force.\n\n" + datasetSpecHelp,
		Example: "  autotag data split yolo:images:labels:data.yaml --val 0.2 --out splits",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			outputs := []string{filepath.Join(out, "train.csv"), filepath.Join(out, "val.csv"), filepath.Join(out, "names.txt")}
			// All are checked before the split starts, so a refusal costs no work
			// and never leaves a split half replaced.
			if err := refuseExistingFiles(outputs, "--out "+out, force); err != nil {
				return withExitCode(2, err)
			}
			ds, err := data.Load(args[0], data.LoadOptions{})
			if err != nil {
				return err
			}
			train, valDS, err := data.SplitDataset(c.Context(), ds, data.SplitOptions{ValFraction: val, Seed: seed, MaxDistance: maxDist, Workers: workers})
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			// Paths in the csv files are relative to the folder holding every image,
			// printed relative to the working directory when it lies below it, so a
			// project folder holding the images and the split can be moved as a whole.
			root, err := data.ImageRoot(ds)
			if err != nil {
				return fmt.Errorf("split %s: %w", ds.Spec, err)
			}
			if wd, err := os.Getwd(); err == nil {
				if rel, err := filepath.Rel(wd, root); err == nil && filepath.IsLocal(rel) {
					root = rel
				}
			}
			names := outputs[2]
			w := c.OutOrStdout()
			fmt.Fprintf(w, "%s: %d images → %d train, %d val; problems: %s\n", ds.Spec, len(ds.Records),
				len(train.Records), len(valDS.Records), ds.Report.Summary())
			for _, p := range []struct {
				name string
				ds   *data.Dataset
			}{{"train", train}, {"val", valDS}} {
				spec, err := data.WriteCSVDataset(p.ds, filepath.Join(out, p.name+".csv"), root, names) // each file atomically
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s: %s\n", p.name, spec)
			}
			return nil
		},
	}
	f := c.Flags()
	f.Float64Var(&val, "val", 0.2, "validation share of the images")
	f.Uint64Var(&seed, "seed", 0, "which duplicate groups go to validation")
	f.IntVar(&maxDist, "max-distance", data.DefaultMaxHashDistance, "near-duplicate threshold in perceptual-hash bits; negative: identical files only")
	f.IntVar(&workers, "workers", 0, "decoding workers (0: one per CPU)")
	f.StringVar(&out, "out", "", "output directory")
	f.BoolVar(&force, "force", false, "replace existing train.csv, val.csv and names.txt in --out")
	return c
}
