package weights

import (
	"testing"

	"github.com/autotag/autotag/internal/testenv"
)

// BenchmarkLoad measures loading the imported npm ResNet50 (≈98 MB).
func BenchmarkLoad(b *testing.B) {
	p := testenv.KerasModel(b)
	for b.Loop() {
		if _, err := Load(p); err != nil {
			b.Fatal(err)
		}
	}
}
