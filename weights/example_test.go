package weights_test

import (
	"fmt"

	"github.com/autotag/autotag/weights"
)

// ResNet50Tensors lists the tensors a model file must hold, by layout.
func ExampleResNet50Tensors() {
	tv, _ := weights.ResNet50Tensors(weights.LayoutTorchvisionV15, 1000)
	keras, _ := weights.ResNet50Tensors(weights.LayoutKerasV1, 1000)
	fmt.Println(len(tv), "tensors in torchvision-v1.5,", len(keras), "in keras-v1 (conv biases)")
	fmt.Println(tv[0].Name, tv[0].Shape)
	fmt.Println(tv[len(tv)-2].Name, tv[len(tv)-2].Shape)
	// Output:
	// 267 tensors in torchvision-v1.5, 320 in keras-v1 (conv biases)
	// conv1.weight [64 3 7 7]
	// fc.weight [1000 2048]
}

// LookupCheckpoint finds registry entries by name or upstream alias.
func ExampleLookupCheckpoint() {
	ck, _ := weights.LookupCheckpoint("IMAGENET1K_V2")
	fmt.Println(ck.Name, ck.Layout, ck.Preprocess.Resize, ck.Preprocess.Crop)
	// Output: resnet50-torchvision-v2 torchvision-v1.5 232 224
}
