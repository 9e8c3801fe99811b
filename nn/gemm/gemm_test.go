package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naive is the reference: the textbook triple loop in float64. It also returns, per
// element of C, the magnitude Σ|alpha·a·b| + |beta·c| that bounds the rounding error.
func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			w := float64(alpha) * s
			mg := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				mg += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j], mag[i*n+j] = w, mg
		}
	}
	return want, mag
}

// randSlice returns n uniform values in [-1, 1).
func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 2*r.Float32() - 1
	}
	return s
}

// forEachKernel runs f once per micro-kernel this CPU has, with that kernel forced.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			if err := SetKernel(name); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = SetKernel("") })
			f(t)
		})
	}
}

// shape is one test case.
type shape struct {
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
	pad            int // extra leading-dimension elements
}

func (s shape) String() string {
	return fmt.Sprintf("m%d_n%d_k%d_tA%v_tB%v_a%g_b%g_pad%d", s.m, s.n, s.k, s.transA, s.transB, s.alpha, s.beta, s.pad)
}

// How check calls the package.
const (
	plain   = iota // Sgemm
	packedA        // PackA + SgemmPackedA
	packedB        // PackB + SgemmPackedB
)

// check runs Sgemm, SgemmPackedA or SgemmPackedB (mode) on s and compares with naive.
// Padding of C outside the m×n window must survive untouched; with beta = 0 C starts as NaN.
func check(t *testing.T, r *rand.Rand, s shape, mode int) {
	t.Helper()
	ar, ac := s.m, s.k
	if s.transA {
		ar, ac = s.k, s.m
	}
	br, bc := s.k, s.n
	if s.transB {
		br, bc = s.n, s.k
	}
	lda, ldb, ldc := ac+s.pad, bc+s.pad, s.n+s.pad
	a := randSlice(r, max(ar*lda, 1))
	b := randSlice(r, max(br*ldb, 1))
	c := randSlice(r, max(s.m*ldc, 1))
	if s.beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	orig := append([]float32(nil), c...)
	want, mag := naive(s.transA, s.transB, s.m, s.n, s.k, s.alpha, a, lda, b, ldb, s.beta, c, ldc)
	switch mode {
	case packedA:
		pa := PackA(s.transA, s.m, s.k, a, lda)
		SgemmPackedA(pa, s.transB, s.n, s.alpha, b, ldb, s.beta, c, ldc)
	case packedB:
		pb := PackB(s.transB, s.k, s.n, b, ldb)
		SgemmPackedB(s.transA, s.m, s.alpha, a, lda, pb, s.beta, c, ldc)
	default:
		Sgemm(s.transA, s.transB, s.m, s.n, s.k, s.alpha, a, lda, b, ldb, s.beta, c, ldc)
	}
	bad := 0
	for i := 0; i < s.m; i++ {
		for j := 0; j < ldc && i*ldc+j < len(c); j++ {
			got := c[i*ldc+j]
			if j >= s.n {
				if math.Float32bits(got) != math.Float32bits(orig[i*ldc+j]) {
					t.Fatalf("%v: C[%d][%d] outside the window changed: %v -> %v", s, i, j, orig[i*ldc+j], got)
				}
				continue
			}
			w := want[i*s.n+j]
			tol := 1e-6*float64(s.k+4)*mag[i*s.n+j] + 1e-30
			if d := math.Abs(float64(got) - w); !(d <= tol) {
				if bad++; bad <= 3 {
					t.Errorf("%v: C[%d][%d] = %v, want %v (|Δ| %g > %g)", s, i, j, got, w, d, tol)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d wrong elements", s, bad)
	}
}

// edgeSizes straddle every tile and block boundary of every kernel (mr 4/6/8, nr 4/16/32,
// kc 256/384) and include primes.
var edgeSizes = []int{1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 47, 49, 64, 97, 127, 257, 385, 513}

func TestSgemmEdgeShapes(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, m := range edgeSizes {
			for _, n := range edgeSizes {
				k := edgeSizes[(m*7+n*3)%len(edgeSizes)]
				if testing.Short() && m*n*k > 1<<21 {
					continue
				}
				s := shape{m: m, n: n, k: k, transA: m%2 == 0, transB: n%3 == 0, alpha: 1, beta: 0, pad: (m + n) % 3}
				check(t, r, s, plain)
			}
		}
	})
}

func TestSgemmTransposesAlphaBeta(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2.5, -1}, {0, 0.5}, {0, 0}} {
					for _, sz := range [][3]int{{37, 53, 401}, {9, 70, 3}, {130, 33, 129}} {
						check(t, r, shape{m: sz[0], n: sz[1], k: sz[2], transA: tA, transB: tB, alpha: ab[0], beta: ab[1], pad: 5}, plain)
					}
				}
			}
		}
	})
}

// TestSgemmRandomSweep is a fuzz-like sweep over random shapes, flags and scalars; it is
// kept small so the whole package tests in seconds.
func TestSgemmRandomSweep(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for range 60 {
			s := shape{
				m: 1 + r.IntN(200), n: 1 + r.IntN(200), k: 1 + r.IntN(520),
				transA: r.IntN(2) == 0, transB: r.IntN(2) == 0,
				alpha: float32(r.IntN(5)-2) / 2, beta: float32(r.IntN(3)), pad: r.IntN(4),
			}
			check(t, r, s, r.IntN(3))
		}
	})
}

func TestSgemmThreads(t *testing.T) {
	defer SetThreads(0)
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, th := range []int{1, 2, 3, 5} {
			SetThreads(th)
			for _, sz := range [][3]int{{64, 300, 70}, {257, 49, 200}, {513, 17, 64}, {8, 1030, 33}} {
				check(t, r, shape{m: sz[0], n: sz[1], k: sz[2], alpha: 1, beta: 1}, plain)
				check(t, r, shape{m: sz[0], n: sz[1], k: sz[2], alpha: 1, beta: 0}, packedA)
				check(t, r, shape{m: sz[0], n: sz[1], k: sz[2], transA: true, alpha: 1, beta: 0}, packedB)
			}
		}
	})
}

func TestSgemmPacked(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, tA := range []bool{false, true} {
			for _, sz := range [][3]int{{64, 196, 576}, {1, 1, 1}, {13, 49, 385}, {100, 7, 800}} {
				check(t, r, shape{m: sz[0], n: sz[1], k: sz[2], transA: tA, transB: sz[0]%2 == 0, alpha: 1, beta: 0, pad: 2}, packedA)
				check(t, r, shape{m: sz[0], n: sz[1], k: sz[2], transA: tA, alpha: 0.5, beta: -1}, packedA)
				check(t, r, shape{m: sz[0], n: sz[1], k: sz[2], transA: tA, transB: !tA, alpha: 1, beta: 0, pad: 1}, packedB)
				check(t, r, shape{m: sz[0], n: sz[1], k: sz[2], transB: tA, alpha: -2, beta: 0.5}, packedB)
			}
		}
	})
}

// TestPackedKeepsItsKernel checks that an operand packed under one kernel still
// multiplies correctly after the active kernel changes.
func TestPackedKeepsItsKernel(t *testing.T) {
	defer SetKernel("")
	r := rand.New(rand.NewPCG(11, 12))
	m, n, k := 33, 40, 50
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want, _ := naive(false, false, m, n, k, 1, a, k, b, n, 0, nil, n)
	for _, from := range Kernels() {
		_ = SetKernel(from)
		pa, pb := PackA(false, m, k, a, k), PackB(false, k, n, b, n)
		for _, to := range Kernels() {
			_ = SetKernel(to)
			ca, cb := make([]float32, m*n), make([]float32, m*n)
			SgemmPackedA(pa, false, n, 1, b, n, 0, ca, n)
			SgemmPackedB(false, m, 1, a, k, pb, 0, cb, n)
			for i, w := range want {
				if math.Abs(float64(ca[i])-w) > 1e-4 || math.Abs(float64(cb[i])-w) > 1e-4 {
					t.Fatalf("packed with %s, run with %s: C[%d] = %v (A), %v (B), want %v", from, to, i, ca[i], cb[i], w)
				}
			}
		}
	}
}

func TestSgemmDegenerate(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Sgemm(false, false, 2, 2, 0, 1, nil, 0, nil, 2, 3, c, 2)
	if c[0] != 3 || c[3] != 12 {
		t.Fatalf("k=0 must scale C by beta, got %v", c)
	}
	nan := float32(math.NaN())
	c = []float32{nan, nan}
	Sgemm(false, false, 1, 2, 3, 0, []float32{1, 2, 3}, 3, make([]float32, 6), 2, 0, c, 2)
	if c[0] != 0 || c[1] != 0 {
		t.Fatalf("alpha=0, beta=0 must zero C, got %v", c)
	}
	Sgemm(false, false, 0, 5, 5, 1, nil, 5, make([]float32, 25), 5, 0, nil, 5) // empty: no panic
}

func TestSgemmPanicsOnShortSlice(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short A")
		}
	}()
	Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
}

func TestSgemmAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	defer SetThreads(0)
	r := rand.New(rand.NewPCG(13, 14))
	m, n, k := 128, 196, 300
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	pa, pb := PackA(false, m, k, a, k), PackB(false, k, n, b, n)
	fill := FillB(func(dst []float32, p0, kc, j0, nc int) {
		for p := 0; p < kc; p++ {
			copy(dst[p*nc:(p+1)*nc], b[(p0+p)*n+j0:])
		}
	})
	epi := Epilogue(func(i0, i1, j0, j1 int) {})
	for _, th := range []int{1, 2} {
		SetThreads(th)
		allocs := testing.AllocsPerRun(20, func() {
			Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			SgemmPackedA(pa, false, n, 1, b, n, 0, c, n)
			SgemmPackedB(false, m, 1, a, k, pb, 0, c, n)
			SgemmPackedAFused(pa, n, 1, nil, n, fill, 0, c, n, epi)
		})
		if allocs > 0.5 {
			t.Errorf("threads=%d: %.1f allocations per four calls, want 0", th, allocs)
		}
	}
}

// TestSgemmOrientations forces each orientation (orient.go) on shapes that straddle tile
// edges, for plain and pre-packed A, with and without beta.
func TestSgemmOrientations(t *testing.T) {
	defer forceOrient.Store(orientAuto)
	forEachKernel(t, func(t *testing.T) {
		for _, o := range []int32{orientNormal, orientTransposed} {
			forceOrient.Store(o)
			r := rand.New(rand.NewPCG(15, uint64(o)))
			for _, sz := range [][3]int{{64, 49, 200}, {70, 33, 65}, {5, 100, 400}, {257, 196, 31}, {1, 1, 1}} {
				for _, tA := range []bool{false, true} {
					for i, ab := range [][2]float32{{1, 0}, {-1.5, 0.5}} {
						s := shape{m: sz[0], n: sz[1], k: sz[2], transA: tA, transB: !tA && i == 1, alpha: ab[0], beta: ab[1], pad: 3}
						check(t, r, s, plain)
						check(t, r, s, packedA)
						check(t, r, s, packedB)
					}
				}
			}
		}
	})
}
