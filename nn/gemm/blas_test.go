package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestBLASSgemmFlags checks the gonum-style entry point maps every transpose flag.
func TestBLASSgemmFlags(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	m, n, k := 7, 9, 11
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	for _, ta := range []blas.Transpose{blas.NoTrans, blas.Trans, blas.ConjTrans} {
		for _, tb := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			lda, ldb := k, n
			if ta != blas.NoTrans {
				lda = m
			}
			if tb != blas.NoTrans {
				ldb = k
			}
			c := make([]float32, m*n)
			BLAS{}.Sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n)
			want, _ := naive(ta != blas.NoTrans, tb != blas.NoTrans, m, n, k, 1, a, lda, b, ldb, 0, c, n)
			for i := range c {
				if math.Abs(float64(c[i])-want[i]) > 1e-4 {
					t.Fatalf("%v %v: C[%d] = %v, want %v", ta, tb, i, c[i], want[i])
				}
			}
		}
	}
}

// TestGorgoniaUse runs a float32 matmul through a Gorgonia graph after gorgonia.Use(BLAS{})
// and checks it against the naive product.
func TestGorgoniaUse(t *testing.T) {
	calls := 0
	gorgonia.Use(countingBLAS{calls: &calls})
	defer gorgonia.Use(gonum.Implementation{})
	r := rand.New(rand.NewPCG(33, 34))
	m, k, n := 37, 70, 45
	av, bv := randSlice(r, m*k), randSlice(r, k*n)
	g := gorgonia.NewGraph()
	a := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(m, k), gorgonia.WithName("a"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(m, k), tensor.WithBacking(av))))
	b := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(k, n), gorgonia.WithName("b"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(k, n), tensor.WithBacking(bv))))
	bt, err := gorgonia.Transpose(b) // exercises a transposed operand too
	if err != nil {
		t.Fatal(err)
	}
	btt, err := gorgonia.Transpose(bt)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := gorgonia.Mul(a, btt)
	if err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Fatal("Gorgonia did not call our Sgemm")
	}
	got := prod.Value().Data().([]float32)
	want, _ := naive(false, false, m, n, k, 1, av, k, bv, n, 0, nil, n)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-4 {
			t.Fatalf("C[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

// countingBLAS is BLAS counting its Sgemm calls, to prove Gorgonia routes through it.
type countingBLAS struct {
	BLAS
	calls *int
}

func (c countingBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, cm []float32, ldc int) {
	*c.calls++
	c.BLAS.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc)
}
