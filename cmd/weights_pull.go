package cmd

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/autotag/autotag/weights"
)

func newWeightsPullCmd() *cobra.Command {
	var list, keep, force bool
	var budget int64
	c := &cobra.Command{
		Use:   "pull NAME",
		Short: "Download a known checkpoint, verify its sha256 and convert it into the cache",
		Long: "Download a published ResNet50 checkpoint (see --list), resuming an interrupted\n" +
			"download, verify it by sha256 and convert it into the cache under NAME.\n" +
			"A different model already cached under NAME is kept unless --force.\n" +
			"Offline? Import a local file instead: `autotag weights import FILE`.",
		Args: func(c *cobra.Command, args []string) error {
			if list {
				return cobra.NoArgs(c, args)
			}
			return cobra.ExactArgs(1)(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if list {
				return writePullList(c.OutOrStdout(), weights.KnownCheckpoints())
			}
			if err := setImportBudget(budget); err != nil {
				return withExitCode(2, err)
			}
			var progress io.Writer
			if term.IsTerminal(int(os.Stderr.Fd())) {
				progress = os.Stderr
			}
			res, err := weights.Pull(c.Context(), args[0], weights.DownloadOptions{Progress: progress, KeepFile: keep, Replace: force})
			if err != nil {
				return explainCacheConflict(err, "keep the download with --keep and import it under another name with `autotag weights import FILE --name NAME`")
			}
			reportCached(c, res)
			return nil
		},
	}
	c.Flags().BoolVar(&list, "list", false, "list the known checkpoints")
	c.Flags().BoolVar(&force, "force", false, "replace a different model already cached under the name")
	c.Flags().BoolVar(&keep, "keep", false, "keep the downloaded file in the cache's downloads/ after conversion")
	addImportBudgetFlag(c, &budget)
	return c
}

// writePullList prints the known checkpoints as aligned columns: name, size,
// sha256 (a published prefix ends in …) and layout.
func writePullList(w io.Writer, cks []weights.Checkpoint) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tLAYOUT")
	for _, ck := range cks {
		size := "unknown"
		if ck.Size > 0 {
			size = weightsHumanBytes(ck.Size)
		}
		sum := ck.SHA256
		if len(sum) < 64 {
			sum += "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ck.Name, size, sum, ck.Layout)
	}
	return tw.Flush()
}
