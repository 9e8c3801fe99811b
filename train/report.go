package train

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// WriteSummary writes the headline figures on one line.
func WriteSummary(w io.Writer, r *Report) {
	fmt.Fprintf(w, "mAP %.2f (over %d classes with positives), CF1 %.2f, OF1 %.2f, per-label accuracy %.2f %% (all-negative %.2f %%)\n",
		100*r.MAP, r.APClasses, 100*r.CF1, 100*r.OF1, 100*r.Accuracy, 100*r.AllNegativeAccuracy)
}

// WriteReport writes the evaluation as text: the headline table, then the worst
// classes with their errors and what they are confused with.
func WriteReport(w io.Writer, r *Report, worst int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "images\t%d\n", r.Images)
	fmt.Fprintf(tw, "classes\t%d (%d with positives: mAP is over these)\n", r.Classes, r.APClasses)
	fmt.Fprintf(tw, "mAP\t%.2f\n", 100*r.MAP)
	fmt.Fprintf(tw, "CP / CR / CF1\t%.2f / %.2f / %.2f\n", 100*r.CP, 100*r.CR, 100*r.CF1)
	fmt.Fprintf(tw, "OP / OR / OF1\t%.2f / %.2f / %.2f\n", 100*r.OP, 100*r.OR, 100*r.OF1)
	fmt.Fprintf(tw, "per-label accuracy\t%.2f %% (predicting no tag at all: %.2f %%)\n", 100*r.Accuracy, 100*r.AllNegativeAccuracy)
	if err := tw.Flush(); err != nil {
		return err
	}
	if worst > 0 {
		fmt.Fprintf(w, "\nworst %d classes by AP:\n", worst)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "class\tAP\tpositives\tthreshold\tTP\tFP\tFN\tFPs are mostly")
		for _, c := range r.Worst(worst) {
			ap := "-"
			if !math.IsNaN(c.AP) {
				ap = fmt.Sprintf("%.2f", 100*c.AP)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%d\t%d\t%d\t%s\n", c.Class, ap, c.Positives, c.Threshold, c.TP, c.FP, c.FN, c.Confused)
		}
		return tw.Flush()
	}
	return nil
}
