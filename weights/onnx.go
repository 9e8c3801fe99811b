package weights

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
	"gorgonia.org/tensor"

	"github.com/autotag/autotag/internal/atomicfile"
	"github.com/autotag/autotag/nn/arch"
)

// ONNX export writes a standard ModelProto by hand with protowire, field numbers
// from onnx/onnx.proto3 (ONNX 1.8+, IR version 7, default-domain opset 13). The
// graph is ResNet50 in either layout, laid out by walking nn/arch's topology (the one
// nn's runner walks), with BatchNormalization nodes or BN folded into the
// convolutions by arch.FoldBN (Ioffe & Szegedy 2015: y = γ(x−μ)/√(σ²+ε)+β is affine
// per channel). Input "input" is
// NCHW float32 preprocessed as the model's metadata says, with symbolic batch,
// height and width; outputs "logits" [N,C] and "probabilities" [N,C] after the
// model's activation.

// ONNX enum values used here (onnx.proto3).
const (
	onnxIRVersion = 7
	onnxOpset     = 13
	onnxFloat     = 1 // TensorProto.DataType FLOAT
	onnxAttrFloat = 1 // AttributeProto.AttributeType FLOAT
	onnxAttrInt   = 2 // INT
	onnxAttrInts  = 7 // INTS
)

// ONNXOptions control ExportONNX.
type ONNXOptions struct {
	FoldBN bool // fold batch norm into the convolutions (fewer nodes, same function)
}

// onnxNode is one NodeProto.
type onnxNode struct {
	op, name     string
	inputs, outs []string
	ints         map[string][]int64 // INTS attributes
	int1         map[string]int64   // INT attributes
	floats1      map[string]float32 // FLOAT attributes
}

// onnxGraph accumulates nodes and initializers.
type onnxGraph struct {
	nodes []onnxNode
	init  [][]byte // encoded TensorProtos
	names map[string]bool
}

func (g *onnxGraph) addInit(name string, shape []int, vals []float32) {
	var b []byte
	for _, d := range shape {
		b = protowire.AppendTag(b, 1, protowire.VarintType) // dims
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType) // data_type
	b = protowire.AppendVarint(b, onnxFloat)
	b = protowire.AppendTag(b, 8, protowire.BytesType) // name
	b = protowire.AppendString(b, name)
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType) // raw_data
	b = protowire.AppendBytes(b, raw)
	g.init = append(g.init, b)
	g.names[name] = true
}

// ExportONNX writes m as an ONNX model to path (atomically).
func ExportONNX(path string, m *Model, opt ONNXOptions) error {
	b, err := EncodeONNX(m, opt)
	if err != nil {
		return fmt.Errorf("exporting ONNX: %w", err)
	}
	return atomicfile.Write(path, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}

// EncodeONNX returns m as a serialized ONNX ModelProto.
func EncodeONNX(m *Model, opt ONNXOptions) ([]byte, error) {
	md := m.Meta
	if md.Arch != "" && md.Arch != "resnet50" {
		return nil, fmt.Errorf("arch %q: only resnet50 can be exported", md.Arch)
	}
	if md.Head != "" && md.Head != "linear" {
		return nil, fmt.Errorf("head %q cannot be exported: the ONNX exporter writes only a linear classifier (fc.weight, fc.bias)", md.Head)
	}
	if md.BackboneSHA256 != "" {
		return nil, fmt.Errorf("this file holds only a head (backbone sha256 %s); join it with its backbone first (model.LoadWeights, as autotag weights export-onnx does)", md.BackboneSHA256)
	}
	fcb, ok := m.Tensors["fc.bias"]
	if !ok {
		return nil, fmt.Errorf("no fc.bias")
	}
	classes := fcb.Shape().TotalSize()
	if err := CheckResNet50(m.Tensors, md.Layout, classes); err != nil {
		return nil, err
	}
	eps := md.BNEps
	if eps <= 0 {
		return nil, fmt.Errorf("metadata bn_eps %g must be positive", eps)
	}
	top, err := arch.ResNet50(arch.Layout(md.Layout), classes)
	if err != nil {
		return nil, err
	}
	g := &onnxGraph{names: map[string]bool{}}
	f32 := func(name string) []float32 { v, _ := float32Data(m.Tensors[name]); return v }

	// conv emits convolution c with its batch norm (or folded into it), then adds res
	// when given and applies ReLU when asked; it returns the name of the output.
	conv := func(in string, c *arch.Conv, res string, relu bool) (string, error) {
		shape := c.WeightShape()
		out := c.BN + "_out"
		convOut := out
		inputs := []string{in}
		if opt.FoldBN {
			fw, fb, err := arch.FoldBN(f32(c.Name+".weight"), biasOrNil(m.Tensors, c.Name+".bias"), f32(c.BN+".weight"), f32(c.BN+".bias"),
				f32(c.BN+".running_mean"), f32(c.BN+".running_var"), eps)
			if err != nil {
				return "", fmt.Errorf("%s: %w", c.BN, err)
			}
			g.addInit(c.Name+".weight", shape, fw)
			g.addInit(c.Name+".bias", []int{c.Out}, fb)
			inputs = append(inputs, c.Name+".weight", c.Name+".bias")
		} else {
			convOut = c.Name + "_out"
			g.addInit(c.Name+".weight", shape, f32(c.Name+".weight"))
			inputs = append(inputs, c.Name+".weight")
			if _, ok := m.Tensors[c.Name+".bias"]; ok {
				g.addInit(c.Name+".bias", []int{c.Out}, f32(c.Name+".bias"))
				inputs = append(inputs, c.Name+".bias")
			}
		}
		g.nodes = append(g.nodes, onnxNode{op: "Conv", name: c.Name, inputs: inputs, outs: []string{convOut},
			ints: map[string][]int64{
				"kernel_shape": {int64(c.Kernel), int64(c.Kernel)}, "strides": {int64(c.Stride), int64(c.Stride)},
				"pads": {int64(c.Pad), int64(c.Pad), int64(c.Pad), int64(c.Pad)}, "dilations": {1, 1},
			},
			int1: map[string]int64{"group": 1}})
		if !opt.FoldBN {
			for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
				g.addInit(c.BN+"."+p, []int{c.Out}, f32(c.BN+"."+p))
			}
			g.nodes = append(g.nodes, onnxNode{op: "BatchNormalization", name: c.BN,
				inputs:  []string{convOut, c.BN + ".weight", c.BN + ".bias", c.BN + ".running_mean", c.BN + ".running_var"},
				outs:    []string{out},
				floats1: map[string]float32{"epsilon": float32(eps)}})
		}
		if res != "" {
			g.nodes = append(g.nodes, onnxNode{op: "Add", name: c.Name + ".add", inputs: []string{out, res}, outs: []string{c.Name + ".add_out"}})
			out = c.Name + ".add_out"
		}
		if relu {
			g.nodes = append(g.nodes, onnxNode{op: "Relu", name: c.Name + ".relu", inputs: []string{out}, outs: []string{c.Name + ".relu_out"}})
			out = c.Name + ".relu_out"
		}
		return out, nil
	}

	x, err := conv("input", &top.Stem, "", true)
	if err != nil {
		return nil, err
	}
	mp := top.MaxPool
	g.nodes = append(g.nodes, onnxNode{op: "MaxPool", name: "maxpool", inputs: []string{x}, outs: []string{"maxpool_out"},
		ints: map[string][]int64{"kernel_shape": {int64(mp.Kernel), int64(mp.Kernel)}, "strides": {int64(mp.Stride), int64(mp.Stride)},
			"pads": {int64(mp.Pad), int64(mp.Pad), int64(mp.Pad), int64(mp.Pad)}}})
	x = "maxpool_out"
	for _, st := range top.Stages {
		for b := range st.Blocks {
			if x, err = arch.Residual(&st.Blocks[b], x, conv); err != nil {
				return nil, err
			}
		}
	}
	g.nodes = append(g.nodes,
		onnxNode{op: "GlobalAveragePool", name: "avgpool", inputs: []string{x}, outs: []string{"avgpool_out"}},
		onnxNode{op: "Flatten", name: "flatten", inputs: []string{"avgpool_out"}, outs: []string{"features"}, int1: map[string]int64{"axis": 1}})
	g.addInit("fc.weight", []int{classes, arch.FeatureDim}, f32("fc.weight"))
	g.addInit("fc.bias", []int{classes}, f32("fc.bias"))
	g.nodes = append(g.nodes, onnxNode{op: "Gemm", name: "fc", inputs: []string{"features", "fc.weight", "fc.bias"}, outs: []string{"logits"},
		int1: map[string]int64{"transB": 1}})
	switch md.Activation {
	case "softmax", "":
		g.nodes = append(g.nodes, onnxNode{op: "Softmax", name: "softmax", inputs: []string{"logits"}, outs: []string{"probabilities"}, int1: map[string]int64{"axis": 1}})
	case "sigmoid":
		g.nodes = append(g.nodes, onnxNode{op: "Sigmoid", name: "sigmoid", inputs: []string{"logits"}, outs: []string{"probabilities"}})
	default:
		return nil, fmt.Errorf("activation %q: want softmax or sigmoid", md.Activation)
	}
	return encodeModel(g, m, classes), nil
}

// biasOrNil returns the float32 data of ts[name], or nil when absent.
func biasOrNil(ts map[string]*tensor.Dense, name string) []float32 {
	if d, ok := ts[name]; ok {
		v, _ := float32Data(d)
		return v
	}
	return nil
}

// encodeModel serializes the ModelProto.
func encodeModel(g *onnxGraph, m *Model, classes int) []byte {
	var graph []byte
	for _, n := range g.nodes {
		graph = protowire.AppendTag(graph, 1, protowire.BytesType)
		graph = protowire.AppendBytes(graph, encodeNode(n))
	}
	graph = appendString(graph, 2, "autotag_resnet50")
	for _, t := range g.init {
		graph = protowire.AppendTag(graph, 5, protowire.BytesType)
		graph = protowire.AppendBytes(graph, t)
	}
	graph = protowire.AppendTag(graph, 11, protowire.BytesType)
	graph = protowire.AppendBytes(graph, valueInfo("input", []any{"N", 3, "H", "W"}))
	graph = protowire.AppendTag(graph, 12, protowire.BytesType)
	graph = protowire.AppendBytes(graph, valueInfo("logits", []any{"N", classes}))
	graph = protowire.AppendTag(graph, 12, protowire.BytesType)
	graph = protowire.AppendBytes(graph, valueInfo("probabilities", []any{"N", classes}))

	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, onnxIRVersion)
	b = appendString(b, 2, "autotag")
	b = appendString(b, 3, createdBy())
	b = appendString(b, 6, fmt.Sprintf("ResNet50 (%s) exported by autotag from %s", m.Meta.Layout, m.Meta.Source))
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendBytes(b, graph)
	var opset []byte
	opset = appendString(opset, 1, "")
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, onnxOpset)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, opset)
	// The autotag metadata travels along as metadata_props.
	if kv, err := m.Meta.Strings(); err == nil {
		for _, k := range sortedKeys(kv) {
			var e []byte
			e = appendString(e, 1, k)
			e = appendString(e, 2, kv[k])
			b = protowire.AppendTag(b, 14, protowire.BytesType)
			b = protowire.AppendBytes(b, e)
		}
	}
	return b
}

// sortedKeys returns a map's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// encodeNode serializes a NodeProto with its attributes in a fixed order.
func encodeNode(n onnxNode) []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.outs {
		b = appendString(b, 2, out)
	}
	b = appendString(b, 3, n.name)
	b = appendString(b, 4, n.op)
	for _, k := range sortedKeys(n.ints) {
		var a []byte
		a = appendString(a, 1, k)
		a = protowire.AppendTag(a, 20, protowire.VarintType)
		a = protowire.AppendVarint(a, onnxAttrInts)
		var packed []byte
		for _, v := range n.ints[k] {
			packed = protowire.AppendVarint(packed, uint64(v))
		}
		a = protowire.AppendTag(a, 8, protowire.BytesType)
		a = protowire.AppendBytes(a, packed)
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	for _, k := range sortedKeys(n.int1) {
		var a []byte
		a = appendString(a, 1, k)
		a = protowire.AppendTag(a, 20, protowire.VarintType)
		a = protowire.AppendVarint(a, onnxAttrInt)
		a = protowire.AppendTag(a, 3, protowire.VarintType)
		a = protowire.AppendVarint(a, uint64(n.int1[k]))
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	for _, k := range sortedKeys(n.floats1) {
		var a []byte
		a = appendString(a, 1, k)
		a = protowire.AppendTag(a, 20, protowire.VarintType)
		a = protowire.AppendVarint(a, onnxAttrFloat)
		a = protowire.AppendTag(a, 2, protowire.Fixed32Type)
		a = protowire.AppendFixed32(a, math.Float32bits(n.floats1[k]))
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	return b
}

// valueInfo serializes a float tensor ValueInfoProto; dims are ints (fixed) or
// strings (symbolic).
func valueInfo(name string, dims []any) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		switch v := d.(type) {
		case int:
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(v))
		case string:
			dim = appendString(dim, 2, v)
		}
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, onnxFloat)
	tt = protowire.AppendTag(tt, 2, protowire.BytesType)
	tt = protowire.AppendBytes(tt, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tt)
	var b []byte
	b = appendString(b, 1, name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, typ)
}
