package cmd

import (
	"github.com/spf13/cobra"
)

// datasetSpecHelp documents the dataset SPEC syntax for every data subcommand.
const datasetSpecHelp = `Dataset SPECs:
  coco:ANNOTATIONS.json:IMAGE_DIR              COCO instances JSON (2014/2017)
  kaggle:LABELS.csv:CATEGORIES.csv:IMAGE_DIR   file + one 0/1 column per class
  yolo:IMAGE_DIR:LABEL_DIR[:NAMES]             YOLO txt labels; NAMES = names list or data yaml
  csv:FILE.csv:IMAGE_DIR[:NAMES]               file,tags with ';' between tags
                                               (header file,class_ids: space-separated ids)`

func newDataCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "data",
		Short: "Check, describe and split datasets",
		Long:  "Inspect training data before training on it.\n\n" + datasetSpecHelp,
	}
	c.AddCommand(newDataCheckCmd(), newDataStatsCmd(), newDataSplitCmd())
	return c
}
