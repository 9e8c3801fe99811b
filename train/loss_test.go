package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The tiny case: two samples, two classes, pos_weight = [2, 3].
//
//	x = [[2, -1], [0.5, -3]], y = [[1, 0], [0, 1]]
//
// wbce, by hand (softplus(z) = ln(1+e^z)):
//
//	2·softplus(−2) = 2·0.1269280110 = 0.2538560221
//	  softplus(−1) =                  0.3132616875
//	  softplus(0.5) =                 0.9740769842
//	3·softplus(3)  = 3·3.0485873516 = 9.1457620547
//	mean = 10.6869567485 / 4 = 2.6717391871
//
// focal (α = 0.25, γ = 2; p = σ(x)):
//
//	0.25·(1−σ(2))²·softplus(−2)   = 0.25·0.0142094·0.1269280 = 0.0004508907
//	0.75·σ(−1)²·softplus(−1)      = 0.75·0.0723295·0.3132617 = 0.0169935431
//	0.75·σ(0.5)²·softplus(0.5)    = 0.75·0.3874586·0.9740770 = 0.2830587006
//	0.25·(1−σ(−3))²·softplus(3)   = 0.25·0.9073861·3.0485874 = 0.6915701103
//	mean = 0.2480183112
//
// asl (γ+ = 0, γ− = 4, m = 0.05; p_m = max(σ(x)−m, 0)):
//
//	softplus(−2)                         = 0.1269280110
//	p_m = 0.2189414; p_m⁴·(−ln(1−p_m))   = 0.0022978·0.2470998 = 0.0005677975
//	p_m = 0.5724509; p_m⁴·(−ln(1−p_m))   = 0.1073888·0.8497438 = 0.0912530041
//	softplus(3)                          = 3.0485873516
//	mean = 0.8168340411
var tinyX = []float32{2, -1, 0.5, -3}
var tinyY = []float32{1, 0, 0, 1}
var tinyPW = []float32{2, 3}

func TestLossTinyCase(t *testing.T) {
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"wbce", 2.6717391871},
		{"focal", 0.2480183112},
		{"asl", 0.8168340411},
	} {
		l, err := NewLoss(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		ref := l.Value(tinyX, tinyY, tinyPW, 2)
		if math.Abs(ref-tc.want) > 1e-9 {
			t.Errorf("%s: float64 reference = %.10f, want %.10f", tc.name, ref, tc.want)
		}
		got32, _ := graphLoss(t, l, tensor.Float32, tinyX, tinyY, tinyPW, 2)
		if math.Abs(got32-tc.want) > 2e-6*math.Max(1, tc.want) {
			t.Errorf("%s: float32 graph = %.8f, want %.8f", tc.name, got32, tc.want)
		}
	}
}

// graphLoss evaluates l in a Gorgonia graph of dtype dt, returning the loss and
// dL/dx.
func graphLoss(t *testing.T, l Loss, dt tensor.Dtype, x, y, pw []float32, classes int) (float64, []float64) {
	t.Helper()
	n := len(x) / classes
	pos := make([]float32, len(y))
	neg := make([]float32, len(y))
	l.Coefficients(y, pw, classes, pos, neg)
	g := gorgonia.NewGraph()
	mk := func(name string, v []float32) *gorgonia.Node {
		var back any = append([]float32(nil), v...)
		if dt == tensor.Float64 {
			f := make([]float64, len(v))
			for i := range v {
				f[i] = float64(v[i])
			}
			back = f
		}
		return gorgonia.NewMatrix(g, dt, gorgonia.WithShape(n, classes), gorgonia.WithName(name),
			gorgonia.WithValue(tensor.New(tensor.WithShape(n, classes), tensor.WithBacking(back))))
	}
	xn, pn, nn := mk("x", x), mk("pos", pos), mk("neg", neg)
	loss, err := l.Build(xn, pn, nn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gorgonia.Grad(loss, xn); err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(xn))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	gv, err := xn.Grad()
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float64, len(x))
	switch d := gv.Data().(type) {
	case []float32:
		for i := range d {
			grad[i] = float64(d[i])
		}
	case []float64:
		copy(grad, d)
	}
	switch v := loss.Value().Data().(type) {
	case float32:
		return float64(v), grad
	case float64:
		return v, grad
	}
	t.Fatalf("unexpected loss value %T", loss.Value().Data())
	return 0, nil
}

// TestLossGradients checks the graph's symbolic gradients against central finite
// differences of the float64 reference, on random logits (including large ones,
// where a naive log(sigmoid) would overflow).
func TestLossGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const classes = 5
	x := make([]float32, 4*classes)
	y := make([]float32, len(x))
	pw := []float32{1, 2, 3.5, 0.5, 10}
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 3)
		if rng.IntN(3) == 0 {
			y[i] = 1
		}
	}
	x[0], x[1] = 40, -40 // saturated logits
	for _, name := range []string{"wbce", "focal", "asl"} {
		l, _ := NewLoss(name)
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			val, grad := graphLoss(t, l, dt, x, y, pw, classes)
			if math.IsNaN(val) || math.IsInf(val, 0) {
				t.Fatalf("%s %v: loss %v", name, dt, val)
			}
			ref := l.Value(x, y, pw, classes)
			if math.Abs(val-ref) > 1e-5*math.Max(1, ref) {
				t.Errorf("%s %v: graph loss %.8f, reference %.8f", name, dt, val, ref)
			}
			const h = 1e-3
			for i := range x {
				xp := append([]float32(nil), x...)
				xm := append([]float32(nil), x...)
				xp[i] += h
				xm[i] -= h
				num := (l.Value(xp, y, pw, classes) - l.Value(xm, y, pw, classes)) / (float64(xp[i]) - float64(xm[i]))
				tol := 1e-5 + 1e-3*math.Abs(num)
				if dt == tensor.Float32 {
					tol = 1e-5 + 5e-3*math.Abs(num)
				}
				if math.IsNaN(grad[i]) || math.Abs(grad[i]-num) > tol {
					t.Errorf("%s %v: dL/dx[%d] (x=%g, y=%g) = %.8g, numeric %.8g", name, dt, i, x[i], y[i], grad[i], num)
				}
			}
		}
	}
}

// TestWBCEGradientClosedForm checks weighted BCE's gradient against its closed form
// dL/dx = (pw·y·(σ(x)−1) + (1−y)·σ(x)) / N.
func TestWBCEGradientClosedForm(t *testing.T) {
	l, _ := NewLoss("wbce")
	_, grad := graphLoss(t, l, tensor.Float64, tinyX, tinyY, tinyPW, 2)
	for i, x := range tinyX {
		s := sigmoid(float64(x))
		y := float64(tinyY[i])
		want := (float64(tinyPW[i%2])*y*(s-1) + (1-y)*s) / 4
		if math.Abs(grad[i]-want) > 1e-12 {
			t.Errorf("dL/dx[%d] = %.12f, want %.12f", i, grad[i], want)
		}
	}
}

func TestNewLossUnknown(t *testing.T) {
	if _, err := NewLoss("mse"); err == nil {
		t.Fatal("want an error for an unknown loss")
	}
}
