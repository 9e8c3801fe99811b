package weights

import (
	"encoding/binary"
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// dtypeSize is the element size in bytes of every safetensors dtype we read
// (github.com/huggingface/safetensors, safetensors/src/tensor.rs, enum Dtype).
var dtypeSize = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// isFloatDType reports whether a safetensors dtype holds floating-point values.
func isFloatDType(dt string) bool {
	switch dt {
	case "F8_E4M3", "F8_E5M2", "F16", "BF16", "F32", "F64":
		return true
	}
	return false
}

// decodeTensor turns little-endian raw bytes of dtype dt into a Dense tensor.
// Floating-point dtypes (F8, F16, BF16, F32, F64) all become float32; integer and
// boolean dtypes keep their natural Go type (U8 → uint8, I64 → int64, BOOL → bool …).
func decodeTensor(dt string, shape []int, raw []byte) (*tensor.Dense, error) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n == 0 {
		return nil, fmt.Errorf("tensor has no elements (shape %v); empty tensors are not supported", shape)
	}
	size, ok := dtypeSize[dt]
	if !ok {
		return nil, fmt.Errorf("unsupported dtype %q", dt)
	}
	if len(raw) != n*size {
		return nil, fmt.Errorf("dtype %s shape %v needs %d bytes, have %d", dt, shape, n*size, len(raw))
	}
	le := binary.LittleEndian
	var backing any
	switch dt {
	case "F32":
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		backing = v
	case "F64":
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		}
		backing = v
	case "F16":
		v := make([]float32, n)
		for i := range v {
			v[i] = float16ToFloat32(le.Uint16(raw[2*i:]))
		}
		backing = v
	case "BF16":
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
		}
		backing = v
	case "F8_E4M3":
		v := make([]float32, n)
		for i := range v {
			v[i] = float8E4M3ToFloat32(raw[i])
		}
		backing = v
	case "F8_E5M2":
		v := make([]float32, n)
		for i := range v {
			// E5M2 is the top byte of an IEEE binary16.
			v[i] = float16ToFloat32(uint16(raw[i]) << 8)
		}
		backing = v
	case "BOOL":
		v := make([]bool, n)
		for i := range v {
			v[i] = raw[i] != 0
		}
		backing = v
	case "U8":
		backing = append([]uint8(nil), raw...)
	case "I8":
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(raw[i])
		}
		backing = v
	case "I16":
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(le.Uint16(raw[2*i:]))
		}
		backing = v
	case "U16":
		v := make([]uint16, n)
		for i := range v {
			v[i] = le.Uint16(raw[2*i:])
		}
		backing = v
	case "I32":
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(le.Uint32(raw[4*i:]))
		}
		backing = v
	case "U32":
		v := make([]uint32, n)
		for i := range v {
			v[i] = le.Uint32(raw[4*i:])
		}
		backing = v
	case "I64":
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(le.Uint64(raw[8*i:]))
		}
		backing = v
	case "U64":
		v := make([]uint64, n)
		for i := range v {
			v[i] = le.Uint64(raw[8*i:])
		}
		backing = v
	default:
		return nil, fmt.Errorf("unsupported dtype %q", dt)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing)), nil
}

// float16ToFloat32 converts an IEEE 754 binary16 value, subnormals, infinities and
// NaN included.
func float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: man × 2^-24
		f := float32(man) * float32(1.0/(1<<24))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// float8E4M3ToFloat32 converts an OCP FP8 E4M3 ("fn": no infinities, S.1111.111 is
// NaN) value, as used by safetensors' F8_E4M3.
func float8E4M3ToFloat32(b byte) float32 {
	sign := float32(1)
	if b&0x80 != 0 {
		sign = -1
	}
	exp := int(b>>3) & 0xf
	man := float32(b & 7)
	switch {
	case exp == 0xf && b&7 == 7:
		return float32(math.NaN())
	case exp == 0:
		return sign * man / 8 * float32(math.Pow(2, -6))
	default:
		return sign * (1 + man/8) * float32(math.Pow(2, float64(exp-7)))
	}
}

// float32Data returns the float32 backing of d, or an error naming what it holds.
func float32Data(d *tensor.Dense) ([]float32, error) {
	if d.Dims() == 0 {
		if f, ok := d.Data().(float32); ok {
			return []float32{f}, nil
		}
	}
	v, ok := d.Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("holds %v, want float32", d.Dtype())
	}
	return v, nil
}
