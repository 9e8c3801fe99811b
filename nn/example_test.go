package nn_test

import (
	"fmt"

	"github.com/autotag/autotag/nn"
)

// A ResNet50 is declared for a layout, bound to tensors named as in torchvision's
// state_dict (here random ones; weights.Load gives real ones), then run through a
// Runner compiled for one batch size and input size.
func ExampleResNet50() {
	m := nn.NewResNet50(nn.Config{Layout: nn.KerasV1, NumClasses: 10})
	if err := m.Bind(nn.RandomParams(m, 1)); err != nil {
		fmt.Println(err)
		return
	}
	r, err := m.NewRunner(2, 64, 64) // batch 2, 64x64 pixels
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	x := make([]float32, 2*3*64*64) // NCHW, preprocessed as the model expects
	features, logits, err := r.Forward(x)
	if err != nil {
		fmt.Println(err)
		return
	}
	nn.Softmax(logits, 10) // in place; the slices belong to the runner
	fmt.Println(len(features), len(logits))
	// Output: 4096 20
}
