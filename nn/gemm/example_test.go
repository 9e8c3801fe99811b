package gemm_test

import (
	"fmt"

	"github.com/autotag/autotag/nn/gemm"
)

// A 2×3 by 3×2 product, row-major, C = A·B.
func ExampleSgemm() {
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		1, 0,
		0, 1,
		1, 1,
	}
	c := make([]float32, 2*2)
	gemm.Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)
	// Output: [4 5 10 11]
}

// Convolution weights W[Cout, Cin·kh·kw] are packed once and multiplied by a fresh
// im2col matrix cols[Cin·kh·kw, H·W] for every image: out[Cout, H·W] = W·cols.
func ExamplePackA() {
	const cout, kdim, hw = 2, 3, 4
	w := []float32{
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	packed := gemm.PackA(false, cout, kdim, w, kdim) // once, at model load

	cols := []float32{ // one image's im2col matrix
		1, 2, 3, 4,
		0, 0, 0, 0,
		1, 1, 1, 1,
	}
	out := make([]float32, cout*hw)
	gemm.SgemmPackedA(packed, false, hw, 1, cols, hw, 0, out, hw) // per image, no packing of W
	fmt.Println(out)
	// Output: [0 1 2 3 1 1.5 2 2.5]
}
