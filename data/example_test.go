package data_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/autotag/autotag/data"
)

// A synthetic dataset written as a csv: dataset, loaded back, and fed through the
// training loader with augmentation, class weights and repeat-factor sampling.
func Example() {
	dir, _ := os.MkdirTemp("", "autotag-example")
	defer os.RemoveAll(dir)

	spec, _ := data.Synthetic(24, 96, 1).WriteCSV(dir)
	ds, err := data.Load(spec, data.LoadOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(ds.Records), "images,", len(ds.Classes), "classes, first:", ds.Classes[0])
	fmt.Println("problems:", ds.Report.Defects())

	posWeight := data.PosWeights(ds, 1, 50) // for weighted BCE
	_ = posWeight
	sampler, _ := data.NewRepeatFactorSampler(ds, 0.1, 7)

	aug := data.DefaultAugment(64)
	spec224 := data.TorchvisionSpec()
	loader, err := data.NewLoader(data.LoaderConfig{
		Dataset: ds, Spec: spec224, Augment: &aug, BatchSize: 8, Sampler: sampler, Seed: 7,
	})
	if err != nil {
		panic(err)
	}
	it := loader.Epoch(context.Background(), 0)
	defer it.Close()
	b, err := it.Next()
	if err != nil && err != io.EOF {
		panic(err)
	}
	fmt.Println("batch:", b.N, "images of", len(b.X)/b.N, "floats,", len(b.Y)/b.N, "targets each")
	// Output:
	// 24 images, 12 classes, first: red circle
	// problems: 0
	// batch: 8 images of 12288 floats, 12 targets each
}

// Decoding with the pixel cap and preprocessing for a model.
func ExampleDecode() {
	_, err := data.Decode(strings.NewReader("not an image"), data.DecodeOptions{})
	fmt.Println(err)
	// Output:
	// unsupported image format: looks like text
}
