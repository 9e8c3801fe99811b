package arch

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestResNet50Layout checks the description against He et al. 2015, Table 1 and
// torchvision's state_dict: 53 convolutions (49 in blocks + 4 projections + the stem),
// the stride of stages 2-4 on conv1 (Keras) or conv2 (torchvision v1.5) and on the
// projection, the stage widths, and 267 tensors (+53 conv biases for Keras).
func TestResNet50Layout(t *testing.T) {
	for _, c := range []struct {
		layout         Layout
		tensors        int
		strided, plain string
	}{
		{KerasV1, 320, "conv1", "conv2"},
		{TorchvisionV15, 267, "conv2", "conv1"},
	} {
		t.Run(string(c.layout), func(t *testing.T) {
			r, err := ResNet50(c.layout, 10)
			if err != nil {
				t.Fatal(err)
			}
			ts := r.Tensors()
			if len(ts) != c.tensors {
				t.Errorf("%d tensors, want %d", len(ts), c.tensors)
			}
			convs, downs := 1, 0
			h := r.MaxPool.OutSize(r.Stem.OutSize(224))
			for l, st := range r.Stages {
				if want := 256 << l; st.Out != want || st.Name != fmt.Sprintf("layer%d", l+1) {
					t.Errorf("stage %d: %s out %d, want layer%d out %d", l, st.Name, st.Out, l+1, want)
				}
				for b := range st.Blocks {
					blk := &st.Blocks[b]
					h = blk.OutSize(h)
					convs += len(blk.Convs())
					if blk.Down != nil {
						downs++
					}
					stride := map[string]int{"conv1": blk.Conv1.Stride, "conv2": blk.Conv2.Stride}
					wantStride := 1
					if l > 0 && b == 0 {
						wantStride = 2
					}
					if stride[c.strided] != wantStride || stride[c.plain] != 1 || blk.Conv3.Stride != 1 {
						t.Errorf("%s: strides %v conv3 %d, want %s=%d", blk.Name, stride, blk.Conv3.Stride, c.strided, wantStride)
					}
					if blk.Down != nil && blk.Down.Stride != wantStride {
						t.Errorf("%s: shortcut stride %d, want %d", blk.Name, blk.Down.Stride, wantStride)
					}
				}
			}
			if convs != 53 || downs != 4 || h != 7 {
				t.Errorf("%d convolutions, %d projections, final size %d: want 53, 4, 7", convs, downs, h)
			}
			byName := map[string][]int{}
			for _, s := range ts {
				if _, dup := byName[s.Name]; dup {
					t.Errorf("tensor %s twice", s.Name)
				}
				byName[s.Name] = s.Shape
			}
			for name, shape := range map[string][]int{
				"conv1.weight": {64, 3, 7, 7}, "layer3.0.conv2.weight": {256, 256, 3, 3},
				"layer2.0.downsample.0.weight": {512, 256, 1, 1}, "layer4.2.bn3.running_var": {2048},
				"fc.weight": {10, 2048}, "fc.bias": {10},
			} {
				if !slices.Equal(byName[name], shape) {
					t.Errorf("%s %v, want %v", name, byName[name], shape)
				}
			}
			if _, ok := byName["layer1.0.conv1.bias"]; ok != c.layout.ConvBias() {
				t.Errorf("conv bias present %v, want %v", ok, c.layout.ConvBias())
			}
			// state_dict order: a block's convs and BNs, its projection last
			i := slices.IndexFunc(ts, func(s TensorSpec) bool { return s.Name == "layer1.0.bn3.running_var" })
			if i < 0 || !strings.HasPrefix(ts[i+1].Name, "layer1.0.downsample.0.") {
				t.Errorf("tensor after layer1.0.bn3.running_var is not the projection")
			}
		})
	}
	if _, err := ResNet50("resnet-v2", 10); err == nil {
		t.Error("unknown layout accepted")
	}
	if _, err := ResNet50(KerasV1, 0); err == nil {
		t.Error("0 classes accepted")
	}
}

// TestResidualVisitsConvsInOrder checks that Residual visits a block's convolutions in
// Convs' order (builders rely on it for their parameter order), applies ReLU to all
// but the projection, and adds the shortcut to conv3 only.
func TestResidualVisitsConvsInOrder(t *testing.T) {
	for _, blk := range []Block{NewBottleneck("b", 64, 64, 1, KerasV1), NewBottleneck("b", 256, 128, 2, TorchvisionV15), NewBottleneck("b", 256, 64, 1, KerasV1)} {
		var visited []string
		y, err := Residual(&blk, "x", func(x string, c *Conv, res string, relu bool) (string, error) {
			visited = append(visited, c.Name)
			if relu != (c != blk.Down) || (res != "") != (c == &blk.Conv3) {
				t.Errorf("%s: relu %v, residual %q", c.Name, relu, res)
			}
			if res != "" {
				return fmt.Sprintf("%s(%s)+%s", c.Name, x, res), nil
			}
			return fmt.Sprintf("%s(%s)", c.Name, x), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, c := range blk.Convs() {
			want = append(want, c.Name)
		}
		if !slices.Equal(visited, want) {
			t.Errorf("visited %v, want %v", visited, want)
		}
		short := "x"
		if blk.Down != nil {
			short = "b.downsample.0(x)"
		}
		if wantY := "b.conv3(b.conv2(b.conv1(x)))+" + short; y != wantY {
			t.Errorf("output %s, want %s", y, wantY)
		}
	}
}

func TestFoldBN(t *testing.T) {
	// One output channel, two weights: W' = s·W, b' = s·(b−μ)+β with s = γ/√(σ²+ε).
	w, b, err := FoldBN([]float32{1, 2}, []float32{0.5}, []float32{2}, []float32{0.25}, []float32{1.5}, []float32{3}, 1)
	if err != nil || w[0] != 1 || w[1] != 2 || b[0] != -0.75 {
		t.Errorf("FoldBN = %v %v %v", w, b, err)
	}
	// no conv bias counts as zero
	if _, b, err := FoldBN([]float32{1}, nil, []float32{2}, []float32{0.25}, []float32{1.5}, []float32{3}, 1); err != nil || b[0] != -1.25 {
		t.Errorf("FoldBN without bias: %v %v", b, err)
	}
	for name, c := range map[string]struct {
		w, bias, variance []float32
		eps               float64
	}{
		"negative variance": {[]float32{1, 2}, nil, []float32{-2}, 1},
		"NaN variance":      {[]float32{1, 2}, nil, []float32{float32(math.NaN())}, 1},
		"weights not whole": {[]float32{1, 2, 3}, nil, []float32{1, 1}, 1},
		"bias too short":    {[]float32{1, 2}, []float32{}, []float32{1, 1}, 1},
	} {
		out := len(c.variance)
		ones := slices.Repeat([]float32{1}, out)
		if _, _, err := FoldBN(c.w, c.bias, ones, ones, ones, c.variance, c.eps); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
