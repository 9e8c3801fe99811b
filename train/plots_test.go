package train

import (
	"os"
	"testing"
)

func TestWritePlots(t *testing.T) {
	probs := []float32{0.9, 0.2, 0.1, 0.6, 0.7, 0.6, 0.3, 0.4, 0.2}
	y := []float32{1, 0, 0, 0, 1, 0, 1, 1, 0}
	r, err := Evaluate(probs, y, []string{"a", "b", "c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hist := []EpochStats{{Epoch: 1, TrainLoss: 1, ValLoss: 1.1, ValMAP: 0.5}, {Epoch: 2, TrainLoss: 0.5, ValLoss: 0.7, ValMAP: 0.7}}
	files, err := WritePlots(t.TempDir(), r, hist, probs, y)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("wrote %v, want loss, ap and pr plots", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
			t.Errorf("%s is not a PNG (%v)", f, err)
		}
	}
}
