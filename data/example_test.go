package data_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/autotag/autotag/data/spec"

	"github.com/autotag/autotag/data"
)

// A synthetic dataset written as a csv: dataset, loaded back, with class weights,
// repeat-factor sampling and one augmented view as a model input.
func Example() {
	dir, _ := os.MkdirTemp("", "autotag-example")
	defer os.RemoveAll(dir)

	dataset, _ := data.Synthetic(24, 96, 1).WriteCSV(dir)
	ds, err := data.Load(dataset, data.LoadOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(ds.Records), "images,", len(ds.Classes), "classes, first:", ds.Classes[0])
	fmt.Println("problems:", ds.Report.Defects())

	posWeight := data.PosWeights(ds, 1, 50) // for weighted BCE
	_ = posWeight
	sampler, _ := data.NewRepeatFactorSampler(ds, 0.1, 7)

	order := sampler.Epoch(0)

	aug := data.DefaultAugment(64)
	img, err := data.DecodeFile(ds.Records[order[0]].Path, data.DecodeOptions{})
	if err != nil {
		panic(err)
	}
	x := make([]float32, 3*aug.Size*aug.Size) // NCHW, one image
	if err := aug.ApplyTensor(img, spec.Torchvision(), 7, 0, 0, x); err != nil {
		panic(err)
	}
	fmt.Println("view:", len(x), "floats")
	// Output:
	// 24 images, 12 classes, first: red circle
	// problems: 0
	// view: 12288 floats
}

// Decoding with the pixel cap and preprocessing for a model.
func ExampleDecode() {
	_, err := data.Decode(strings.NewReader("not an image"), data.DecodeOptions{})
	fmt.Println(err)
	// Output:
	// unsupported image format: looks like text
}
