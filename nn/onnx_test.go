package nn

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/autotag/autotag/nn/gemm"
)

// Operator conformance against ONNX's own node test vectors (onnx/backend/test/data/
// node/*/test_data_set_0/{input,output}_N.pb), as installed by Debian's
// libonnx-testdata. The attributes of each node (kernel, strides, pads, epsilon,
// transB) are those of onnx/backend/test/case/node/{conv,maxpool,...}.py, restated in
// the tables below; the tensors come from the .pb files. Tests skip when the package is
// absent. Tolerance: 1e-5 absolute + 1e-5 relative (float32 sums in another order).

// onnxNodeDir is where libonnx-testdata installs the node tests.
const onnxNodeDir = "/usr/share/libonnx-testdata/data/node"

// onnxTensor is the part of an ONNX TensorProto we need.
type onnxTensor struct {
	dims []int
	data []float32
}

// readTensorProto parses a serialized onnx.TensorProto holding float32 data (fields
// 1 dims, 2 data_type, 4 float_data, 9 raw_data) with a minimal protobuf decoder.
func readTensorProto(b []byte) (onnxTensor, error) {
	var t onnxTensor
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return t, fmt.Errorf("bad tag")
		}
		b = b[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0: // varint
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return t, fmt.Errorf("bad varint")
			}
			b = b[n:]
			switch field {
			case 1:
				t.dims = append(t.dims, int(v))
			case 2:
				if v != 1 {
					return t, fmt.Errorf("data_type %d, want 1 (FLOAT)", v)
				}
			}
		case 2: // length-delimited
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return t, fmt.Errorf("bad length")
			}
			p := b[n : n+int(l)]
			b = b[n+int(l):]
			switch field {
			case 1: // packed dims
				for len(p) > 0 {
					v, n := binary.Uvarint(p)
					if n <= 0 {
						return t, fmt.Errorf("bad packed dims")
					}
					t.dims = append(t.dims, int(v))
					p = p[n:]
				}
			case 4, 9: // packed float_data or raw_data: little-endian float32
				for i := 0; i+4 <= len(p); i += 4 {
					t.data = append(t.data, math.Float32frombits(binary.LittleEndian.Uint32(p[i:])))
				}
			}
		case 5: // fixed32 (unpacked float_data)
			if field == 4 {
				t.data = append(t.data, math.Float32frombits(binary.LittleEndian.Uint32(b)))
			}
			b = b[4:]
		case 1:
			b = b[8:]
		default:
			return t, fmt.Errorf("unsupported wire type %d", wire)
		}
	}
	return t, nil
}

// onnxCase loads inputs and output 0 of node test name, skipping when absent.
func onnxCase(t *testing.T, name string, inputs int) (in []onnxTensor, out onnxTensor) {
	t.Helper()
	dir := filepath.Join(onnxNodeDir, name, "test_data_set_0")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("ONNX node test %s absent (apt-get install libonnx-testdata)", name)
	}
	read := func(f string) onnxTensor {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		tp, err := readTensorProto(b)
		if err != nil {
			t.Fatalf("%s/%s: %v", name, f, err)
		}
		return tp
	}
	for i := 0; i < inputs; i++ {
		in = append(in, read(fmt.Sprintf("input_%d.pb", i)))
	}
	return in, read("output_0.pb")
}

// closeTo reports the first element where got and want differ beyond tolerance.
func closeTo(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5+1e-5*math.Abs(float64(want[i])) {
			t.Fatalf("%s: element %d = %g, want %g", name, i, got[i], want[i])
		}
	}
}

func TestONNXConv(t *testing.T) {
	for _, c := range []struct {
		name        string
		stride, pad int
	}{
		{"test_basic_conv_with_padding", 1, 1},
		{"test_basic_conv_without_padding", 1, 0},
		{"test_conv_with_strides_padding", 2, 1},
		{"test_conv_with_strides_no_padding", 2, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, out := onnxCase(t, c.name, 2)
			x, w := in[0], in[1]
			b, ch, h, wd := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
			o, k := w.dims[0], w.dims[2]
			ho, wo := convOutSize(h, k, c.stride, c.pad), convOutSize(wd, k, c.stride, c.pad)
			if fmt.Sprint(out.dims) != fmt.Sprint([]int{b, o, ho, wo}) {
				t.Fatalf("output dims %v, ours %v", out.dims, []int{b, o, ho, wo})
			}
			y := make([]float32, len(out.data))
			g := convGeom{batch: b, c: ch, h: h, w: wd, o: o, k: k, s: c.stride, p: c.pad}
			convForward(g, x.data, w.data, make([]float32, o), nil, y, false, newWorkspace(), nil)
			closeTo(t, c.name, y, out.data)
		})
	}
}

func TestONNXMaxPool(t *testing.T) {
	for _, c := range []struct {
		name           string
		k, stride, pad int
	}{
		{"test_maxpool_2d_default", 2, 1, 0},
		{"test_maxpool_2d_pads", 3, 1, 2},
		{"test_maxpool_2d_strides", 5, 3, 0},
		{"test_maxpool_2d_precomputed_pads", 5, 1, 2},
		{"test_maxpool_2d_precomputed_strides", 2, 2, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, out := onnxCase(t, c.name, 1)
			x := in[0]
			planes, h, w := x.dims[0]*x.dims[1], x.dims[2], x.dims[3]
			ho, wo := convOutSize(h, c.k, c.stride, c.pad), convOutSize(w, c.k, c.stride, c.pad)
			if out.dims[2] != ho || out.dims[3] != wo {
				t.Fatalf("output dims %v, ours %dx%d", out.dims, ho, wo)
			}
			y := make([]float32, len(out.data))
			for p := 0; p < planes; p++ {
				maxPoolPlane(x.data[p*h*w:(p+1)*h*w], h, w, c.k, c.stride, c.pad, ho, wo, y[p*ho*wo:(p+1)*ho*wo])
			}
			closeTo(t, c.name, y, out.data)
		})
	}
}

func TestONNXGlobalAveragePool(t *testing.T) {
	for _, name := range []string{"test_globalaveragepool", "test_globalaveragepool_precomputed"} {
		t.Run(name, func(t *testing.T) {
			in, out := onnxCase(t, name, 1)
			x := in[0]
			planes := x.dims[0] * x.dims[1]
			y := make([]float32, planes)
			gapForward(x.data, y, planes, x.dims[2]*x.dims[3])
			closeTo(t, name, y, out.data)
		})
	}
}

// TestONNXBatchNorm checks BN folding: an identity 1x1 convolution with the node's
// batch norm folded in must reproduce the inference-mode BatchNormalization output.
func TestONNXBatchNorm(t *testing.T) {
	for _, c := range []struct {
		name string
		eps  float64
	}{
		{"test_batchnorm_example", 1e-5},
		{"test_batchnorm_epsilon", 1e-2},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, out := onnxCase(t, c.name, 5)
			x := in[0]
			b, ch, h, w := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
			conv := newConv2D("c", ch, ch, 1, 1, 0, false)
			bn := newBatchNorm("bn", ch, c.eps)
			id := make([]float32, ch*ch)
			for i := 0; i < ch; i++ {
				id[i*ch+i] = 1
			}
			conv.Weight.Value = denseOf(id, ch, ch, 1, 1)
			bn.Weight.Value, bn.Bias.Value = denseOf(in[1].data, ch), denseOf(in[2].data, ch)
			bn.RunningMean.Value, bn.RunningVar.Value = denseOf(in[3].data, ch), denseOf(in[4].data, ch)
			f, err := foldBatchNorm(conv, bn, true)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(out.data))
			g := convGeom{batch: b, c: ch, h: h, w: w, o: ch, k: 1, s: 1, p: 0}
			convForward(g, x.data, nil, f.b.Float32s(), nil, y, false, nil, f.packed)
			closeTo(t, c.name, y, out.data)
		})
	}
}

// TestONNXGemm checks gemm.Sgemm as the linear operator uses it (y = A·Bᵀ + c).
func TestONNXGemm(t *testing.T) {
	for _, c := range []struct {
		name   string
		transB bool
	}{
		{"test_gemm_default_vector_bias", false},
		{"test_gemm_transposeB", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, out := onnxCase(t, c.name, 3)
			a, bm, bias := in[0], in[1], in[2]
			m, k := a.dims[0], a.dims[1]
			n := out.dims[1]
			y := make([]float32, m*n)
			for i := 0; i < m; i++ { // broadcast C, then accumulate
				for j := 0; j < n; j++ {
					y[i*n+j] = bias.data[(i*n+j)%len(bias.data)]
				}
			}
			ldb := n
			if c.transB {
				ldb = k
			}
			gemm.Sgemm(false, c.transB, m, n, k, 1, a.data, k, bm.data, ldb, 1, y, n)
			closeTo(t, c.name, y, out.data)
		})
	}
}

func TestONNXReluSigmoid(t *testing.T) {
	in, out := onnxCase(t, "test_relu", 1)
	y := append([]float32(nil), in[0].data...)
	epilogue(y, []float32{0}, nil, len(y), true, 0, 1)
	closeTo(t, "test_relu", y, out.data)

	in, out = onnxCase(t, "test_sigmoid", 1)
	y = append([]float32(nil), in[0].data...)
	Sigmoid(y, 1)
	closeTo(t, "test_sigmoid", y, out.data)
}
