package model

import (
	"testing"

	"gorgonia.org/tensor"
)

func TestHeadForward(t *testing.T) {
	// Hand-computed: x=[1,2], W0=[[1,-1],[2,0]], b0=[0,1] → h=relu([-1, 3])=[0,3];
	// W1=[[1,2]], b1=[0.5] → 6.5.
	mk := func(shape []int, v ...float32) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	hd, err := NewHead(map[string]*tensor.Dense{
		"fc.0.weight": mk([]int{2, 2}, 1, -1, 2, 0), "fc.0.bias": mk([]int{2}, 0, 1),
		"fc.2.weight": mk([]int{1, 2}, 1, 2), "fc.2.bias": mk([]int{1}, 0.5),
	}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := hd.Forward([]float32{1, 2}, 1); len(got) != 1 || got[0] != 6.5 {
		t.Errorf("forward = %v, want [6.5]", got)
	}
	if _, err := NewHead(map[string]*tensor.Dense{"fc.weight": mk([]int{1, 3}, 1, 2, 3), "fc.bias": mk([]int{1}, 0)}, 2); err == nil {
		t.Error("wrong input width: no error")
	}
}

func TestHeadMLPLayers(t *testing.T) {
	mk := func(shape ...int) *tensor.Dense {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, n)))
	}
	hd, err := NewHead(map[string]*tensor.Dense{"fc.0.weight": mk(16, 8), "fc.0.bias": mk(16), "fc.2.weight": mk(3, 16), "fc.2.bias": mk(3)}, 8)
	if err != nil || len(hd.layers) != 2 || hd.Classes() != 3 || hd.In() != 8 {
		t.Fatalf("NewHead: %v %+v", err, hd)
	}
	for _, bad := range []map[string]*tensor.Dense{
		{"fc.weight": mk(3, 8), "fc.bias": mk(3), "fc.0.weight": mk(3, 8), "fc.0.bias": mk(3)}, // mixed
		{"fc.0.weight": mk(3, 8)},                     // no bias
		{"fc.x.weight": mk(3, 8), "fc.x.bias": mk(3)}, // bad index
		{"fc.-1.weight": mk(3, 8), "fc.-1.bias": mk(3)},
		{"fc.weight": mk(3, 8), "fc.bias": mk(3), "fc.scale": mk(3)},
		{},
	} {
		if _, err := NewHead(bad, 8); err == nil {
			t.Errorf("NewHead(%v): no error", bad)
		}
	}
}
