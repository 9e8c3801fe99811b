package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/weights"
)

func newWeightsExportONNXCmd() *cobra.Command {
	var fold, force bool
	c := &cobra.Command{
		Use:   "export-onnx MODEL OUT.onnx",
		Short: "Write a model as a standard ONNX graph (opset 13) for ONNX Runtime and other tools",
		Long: "Write MODEL (a cached name or a .safetensors file) as an ONNX model, opset 13; a\n" +
			"head-only model is written whole, with the cached backbone it names.\n" +
			"Input \"input\": float32 [N,3,H,W], preprocessed as `autotag weights inspect` shows;\n" +
			"outputs \"logits\" and \"probabilities\" [N,classes]. --fold-bn folds batch norm into the\n" +
			"convolutions (same function, fewer nodes). An existing OUT is kept unless --force.",
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := refuseExisting(args[1], "OUT", force); err != nil {
				return withExitCode(2, fmt.Errorf("export-onnx: %w", err))
			}
			// The model opener joins a head-only file with its cached backbone, so
			// the graph is the whole model tag would run.
			p, err := weights.Resolve(args[0])
			if err != nil {
				return err
			}
			w, err := model.LoadWeights(c.Context(), p)
			if err != nil {
				return fmt.Errorf("export-onnx: %w", err)
			}
			m, err := w.Standalone()
			if err != nil {
				return fmt.Errorf("export-onnx: %w", err)
			}
			if err := weights.ExportONNX(args[1], m, weights.ONNXOptions{FoldBN: fold}); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), args[1])
			return nil
		},
	}
	c.Flags().BoolVar(&fold, "fold-bn", false, "fold batch norm into the convolutions")
	c.Flags().BoolVar(&force, "force", false, "replace an existing OUT file")
	return c
}
