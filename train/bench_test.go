package train

import (
	"context"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
	"gorgonia.org/gorgonia"

	"github.com/autotag/autotag/nn/gemm"
)

// BenchmarkEpochMLP measures one epoch of an MLP head (2048-1024-512-80) on 343
// images, the size of the issue-5 experiment, with Gorgonia's matrix products on
// gonum's BLAS and on nn/gemm's (the choice useGemmBLAS makes).
func BenchmarkEpochMLP(b *testing.B) {
	defer gorgonia.Use(gorgonia.WhichBLAS())
	for _, c := range []struct {
		name string
		blas gorgonia.BLAS
	}{{"gonum", gonum.Implementation{}}, {"gemm", gemm.BLAS{}}} {
		b.Run(c.name, func(b *testing.B) {
			gorgonia.Use(c.blas)
			benchEpochMLP(b)
		})
	}
}

func benchEpochMLP(b *testing.B) {
	tr := synthFeatures(1, 343, 1, 2048, 80)
	cfg := DefaultConfig()
	cfg.Head, _ = ParseHead("mlp:1024,512")
	cfg.Epochs, cfg.Patience = 1, 0
	for i := 0; i < b.N; i++ {
		l, err := NewLoop(cfg, tr, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReproducibleWithGemmBLAS: Run routes Gorgonia's matrix products through
// nn/gemm (useGemmBLAS, once per process); runs must stay bit-identical with it.
func TestReproducibleWithGemmBLAS(t *testing.T) {
	useGemmBLAS()
	if _, ok := gorgonia.WhichBLAS().(gemm.BLAS); !ok {
		t.Fatalf("after useGemmBLAS Gorgonia uses %T, want gemm.BLAS", gorgonia.WhichBLAS())
	}
	tr := synthFeatures(1, 150, 2, 256, 10)
	va := synthFeatures(2, 50, 1, 256, 10)
	var heads []*Head
	for run := 0; run < 2; run++ {
		cfg := smallConfig()
		cfg.Epochs = 3
		cfg.Head, _ = ParseHead("mlp:128,64")
		l, err := NewLoop(cfg, tr, va)
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, s.Head)
	}
	if !sameHead(heads[0], heads[1]) {
		t.Fatal("two runs with nn/gemm differ")
	}
}
