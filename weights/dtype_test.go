package weights

import (
	"math"
	"testing"
)

// TestFloat16ToFloat32 checks IEEE binary16 decoding, subnormals included (gopickle's
// table gets those wrong, which is why ReadPyTorch decodes HalfStorage itself).
func TestFloat16ToFloat32(t *testing.T) {
	for h, want := range map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0400: 6.103515625e-05,
		0x0001: 5.9604645e-08, 0x03ff: 6.097555e-05, 0x8001: -5.9604645e-08, 0x3555: 0.33325195,
		0x7c00: float32(math.Inf(1)), 0xfc00: float32(math.Inf(-1)),
	} {
		if got := float16ToFloat32(h); got != want {
			t.Errorf("float16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
	if got := float16ToFloat32(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("NaN decoded as %v", got)
	}
}

// TestFloat8 checks the OCP FP8 formats used by safetensors' F8_E4M3 and F8_E5M2
// (OCP 8-bit Floating Point Specification, v1.0, tables 1-2).
func TestFloat8(t *testing.T) {
	for b, want := range map[byte]float32{0x00: 0, 0x38: 1, 0x7e: 448, 0x01: 0.001953125, 0xb8: -1, 0x08: 0.015625} {
		if got := float8E4M3ToFloat32(b); got != want {
			t.Errorf("E4M3 %#02x = %v, want %v", b, got, want)
		}
	}
	if !math.IsNaN(float64(float8E4M3ToFloat32(0x7f))) {
		t.Errorf("E4M3 0x7f is not NaN")
	}
	d, err := decodeTensor("F8_E5M2", []int{3}, []byte{0x3c, 0x7b, 0x01})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Data().([]float32); got[0] != 1 || got[1] != 57344 || got[2] != 1.5258789e-05 {
		t.Errorf("E5M2 = %v", got)
	}
}
