package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/data"
)

func newDataCheckCmd() *cobra.Command {
	var maxDist, workers, show, maxPixels int
	c := &cobra.Command{
		Use:   "check SPEC...",
		Short: "Validate datasets and find duplicate images within and across them",
		Long: "Load each dataset, report every problem (missing or unreadable images, unknown\n" +
			"classes, duplicate entries, malformed lines) with file:line, then fingerprint every\n" +
			"image (content SHA-256 and a perceptual hash) and list identical files and\n" +
			"near-duplicates (re-encoded, resized) within a dataset and ACROSS datasets: give\n" +
			"the train and validation splits to catch leakage. Exit status 1 when anything\n" +
			"is found.\n\n" + datasetSpecHelp,
		Example: "  autotag data check csv:train.csv:photos csv:val.csv:photos",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opt := data.LoadOptions{Decode: data.DecodeOptions{MaxPixels: maxPixels}}
			var dss []*data.Dataset
			for _, spec := range args {
				ds, err := data.Load(spec, opt)
				if err != nil {
					return err
				}
				dss = append(dss, ds)
			}
			res, err := data.Check(c.Context(), dss, maxDist, workers, opt.Decode)
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			res.Write(out, show)
			defects := 0
			for _, ds := range dss {
				defects += ds.Report.Defects()
			}
			if defects > 0 || len(res.Groups) > 0 {
				return withExitCode(1, fmt.Errorf("data check: %d problems, %d duplicate groups (%d across datasets)",
					defects, len(res.Groups), res.Leaks()))
			}
			fmt.Fprintln(out, "ok: no problems, no duplicates")
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&maxDist, "max-distance", data.DefaultMaxHashDistance, "near-duplicate threshold in perceptual-hash bits (of 128); negative: identical files only")
	f.IntVar(&workers, "workers", 0, "decoding workers (0: one per CPU)")
	f.IntVar(&show, "show", 10, "problems listed per kind")
	f.IntVar(&maxPixels, "max-pixels", data.DefaultMaxPixels, "largest image accepted, in pixels")
	return c
}
