package cmd

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/internal/jsonnum"
)

func newDataStatsCmd() *cobra.Command {
	var pwMin, pwMax, repeatT float64
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats SPEC",
		Short: "Per-class counts, labels per image, pos_weight and repeat factors",
		Long: "Describe a dataset: images, all-negative images, the labels-per-image\n" +
			"histogram, and per class its positives, share, the pos_weight weighted BCE\n" +
			"will use (negatives/positives clamped to [--pos-weight-min, --pos-weight-max])\n" +
			"and the LVIS repeat factor max(1, sqrt(t/f)).\n\n" + datasetSpecHelp,
		Example: "  autotag data stats coco:annotations/instances_val2017.json:val2017",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ds, err := data.Load(args[0], data.LoadOptions{})
			if err != nil {
				return err
			}
			st := ds.Stats()
			pw := data.PosWeights(ds, float32(pwMin), float32(pwMax))
			rf, err := data.RepeatFactors(ds, repeatT)
			if err != nil {
				return err
			}
			var sumRF float64
			for _, r := range rf {
				sumRF += r
			}
			labels := 0
			for k, n := range st.LabelsPerImage {
				labels += k * n
			}
			out := c.OutOrStdout()
			if asJSON {
				type class struct {
					Name      string  `json:"name"`
					Positives int     `json:"positives"`
					PosWeight float32 `json:"pos_weight"`
				}
				var classes []class
				for i, n := range ds.Classes {
					classes = append(classes, class{n, st.Positives[i], pw[i]})
				}
				return jsonnum.Encode(out, map[string]any{
					"spec": ds.Spec, "images": st.Images, "negatives": st.Negatives, "labels": labels,
					"labels_per_image": st.LabelsPerImage, "classes": classes,
					"repeat_factor_epoch": sumRF, "problems": ds.Report.Counts,
				}, "  ")
			}
			fmt.Fprintf(out, "%s\n", ds.Spec)
			fmt.Fprintf(out, "images: %d (%d all-negative), classes: %d, labels: %d, mean %.2f per image\n",
				st.Images, st.Negatives, len(ds.Classes), labels, float64(labels)/float64(max(1, st.Images)))
			fmt.Fprint(out, "labels per image:")
			for k, n := range st.LabelsPerImage {
				if n > 0 {
					fmt.Fprintf(out, " %d:%d", k, n)
				}
			}
			fmt.Fprintf(out, "\nrepeat-factor sampling (t=%g): %.0f draws per epoch (×%.2f)\n", repeatT, sumRF, sumRF/float64(max(1, st.Images)))
			fmt.Fprint(out, "problems: ")
			ds.Report.Write(out, 5)
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "id\tclass\tpositives\tshare\tpos_weight\t")
			for i, n := range ds.Classes {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f%%\t%.2f\t\n", i, n, st.Positives[i],
					100*float64(st.Positives[i])/float64(max(1, st.Images)), pw[i])
			}
			return tw.Flush()
		},
	}
	f := c.Flags()
	f.Float64Var(&pwMin, "pos-weight-min", 1, "lower clamp of pos_weight")
	f.Float64Var(&pwMax, "pos-weight-max", 50, "upper clamp of pos_weight")
	f.Float64Var(&repeatT, "repeat-threshold", data.DefaultRepeatThreshold, "repeat-factor threshold t (LVIS)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
