package train

import (
	"fmt"
	"math"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Loss is a multi-label loss over logits x and 0/1 targets y. Every loss here has
// the form
//
//	L = mean over (sample, class) of  pos·fpos(x) + neg·fneg(x)
//
// where pos and neg are per-element coefficients computed from the targets by
// Coefficients (for weighted BCE pos = pos_weight·y and neg = 1−y) and fpos, fneg are
// the per-element losses for a positive and a negative label. This keeps the class
// weighting outside the graph and lets all three losses share one training graph.
type Loss struct {
	// Name is "wbce", "asl" or "focal".
	Name string
	// GammaPos and GammaNeg are the focusing exponents on positives and negatives
	// (focal: both γ; ASL: γ+ and γ−; wbce: 0 and 0).
	GammaPos, GammaNeg float64
	// Clip is ASL's probability margin m for negatives (p_m = max(p−m, 0)); 0 elsewhere.
	Clip float64
	// Alpha is focal loss' positive-class weight α (negatives get 1−α); 0 means unused.
	Alpha float64
	// UsePosWeight multiplies the positive coefficient by the per-class pos_weight.
	UsePosWeight bool
}

// NewLoss returns the loss named by name with the defaults of its paper:
//   - "wbce": BCE with logits and per-class pos_weight (PyTorch's BCEWithLogitsLoss
//     with pos_weight), composed stably from softplus:
//     pw·y·softplus(−x) + (1−y)·softplus(x);
//   - "asl": asymmetric loss, Ridnik et al. 2021 ("Asymmetric Loss For Multi-Label
//     Classification", ICCV), γ+ = 0, γ− = 4, clip m = 0.05;
//   - "focal": focal loss, Lin et al. 2017 ("Focal Loss for Dense Object Detection"),
//     γ = 2, α = 0.25.
func NewLoss(name string) (Loss, error) {
	switch n := strings.ToLower(strings.TrimSpace(name)); n {
	case "wbce", "bce":
		// "bce" is the unweighted variant (pos_weight = 1), kept for comparisons.
		return Loss{Name: n, UsePosWeight: n == "wbce"}, nil
	case "asl":
		return Loss{Name: "asl", GammaPos: 0, GammaNeg: 4, Clip: 0.05}, nil
	case "focal":
		return Loss{Name: "focal", GammaPos: 2, GammaNeg: 2, Alpha: 0.25}, nil
	}
	return Loss{}, fmt.Errorf("train: unknown loss %q (want wbce, asl or focal)", name)
}

// Coefficients fills pos and neg (each len(y)) from the 0/1 targets y laid out as
// rows of classes = len(posWeight) (posWeight may be nil: all ones).
func (l Loss) Coefficients(y []float32, posWeight []float32, classes int, pos, neg []float32) {
	a := float32(1)
	b := float32(1)
	if l.Alpha > 0 {
		a, b = float32(l.Alpha), float32(1-l.Alpha)
	}
	for i, t := range y {
		w := a
		if l.UsePosWeight && posWeight != nil {
			w *= posWeight[i%classes]
		}
		pos[i] = w * t
		neg[i] = b * (1 - t)
	}
}

// scalarOf returns a constant of the given dtype.
func scalarOf(dt tensor.Dtype, v float64) *gorgonia.Node {
	if dt == tensor.Float64 {
		return gorgonia.NewConstant(v)
	}
	return gorgonia.NewConstant(float32(v))
}

// powNode returns a^gamma; small integer exponents use repeated products, whose
// gradient is defined at a = 0 (Pow's is not).
func powNode(a *gorgonia.Node, gamma float64) (*gorgonia.Node, error) {
	if gamma == 1 {
		return a, nil
	}
	if gamma == math.Trunc(gamma) && gamma >= 2 && gamma <= 8 {
		out := a
		for i := 1; i < int(gamma); i++ {
			var err error
			if out, err = gorgonia.HadamardProd(out, a); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return gorgonia.Pow(a, scalarOf(a.Dtype(), gamma))
}

// Build returns the scalar loss node for logits x and coefficient inputs pos and
// neg (all the same shape, e.g. [B, C]).
func (l Loss) Build(x, pos, neg *gorgonia.Node) (*gorgonia.Node, error) {
	fp, fn, err := l.elementTerms(x)
	if err != nil {
		return nil, fmt.Errorf("train: %s loss: %w", l.Name, err)
	}
	a, err := gorgonia.HadamardProd(pos, fp)
	if err != nil {
		return nil, err
	}
	b, err := gorgonia.HadamardProd(neg, fn)
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.Add(a, b)
	if err != nil {
		return nil, err
	}
	return gorgonia.Mean(s)
}

// elementTerms builds fpos(x) and fneg(x) elementwise.
func (l Loss) elementTerms(x *gorgonia.Node) (fp, fn *gorgonia.Node, err error) {
	dt := x.Dtype()
	negx, err := gorgonia.Neg(x)
	if err != nil {
		return nil, nil, err
	}
	// −log p = softplus(−x) and −log(1−p) = softplus(x), stable for any |x|.
	if fp, err = gorgonia.Softplus(negx); err != nil {
		return nil, nil, err
	}
	if l.GammaPos > 0 {
		q, err := gorgonia.Sigmoid(negx) // 1 − p
		if err != nil {
			return nil, nil, err
		}
		w, err := powNode(q, l.GammaPos)
		if err != nil {
			return nil, nil, err
		}
		if fp, err = gorgonia.HadamardProd(w, fp); err != nil {
			return nil, nil, err
		}
	}
	if l.Clip > 0 {
		// ASL's probability shifting: p_m = max(p − m, 0); fneg = −p_m^γ− · log(1 − p_m).
		// 1 − p_m ≥ m > 0, so the log is safe.
		p, err := gorgonia.Sigmoid(x)
		if err != nil {
			return nil, nil, err
		}
		d, err := gorgonia.Sub(p, scalarOf(dt, l.Clip))
		if err != nil {
			return nil, nil, err
		}
		pm, err := gorgonia.Rectify(d)
		if err != nil {
			return nil, nil, err
		}
		om, err := gorgonia.Sub(scalarOf(dt, 1), pm)
		if err != nil {
			return nil, nil, err
		}
		lg, err := gorgonia.Log(om)
		if err != nil {
			return nil, nil, err
		}
		if fn, err = gorgonia.Neg(lg); err != nil {
			return nil, nil, err
		}
		if l.GammaNeg > 0 {
			w, err := powNode(pm, l.GammaNeg)
			if err != nil {
				return nil, nil, err
			}
			if fn, err = gorgonia.HadamardProd(w, fn); err != nil {
				return nil, nil, err
			}
		}
		return fp, fn, nil
	}
	if fn, err = gorgonia.Softplus(x); err != nil {
		return nil, nil, err
	}
	if l.GammaNeg > 0 {
		p, err := gorgonia.Sigmoid(x)
		if err != nil {
			return nil, nil, err
		}
		w, err := powNode(p, l.GammaNeg)
		if err != nil {
			return nil, nil, err
		}
		if fn, err = gorgonia.HadamardProd(w, fn); err != nil {
			return nil, nil, err
		}
	}
	return fp, fn, nil
}

// softplus is log(1+e^x) computed without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Terms returns fpos(x) and fneg(x) for one logit in float64: the reference the
// graph is tested against, also used to compute validation losses without a graph.
func (l Loss) Terms(x float64) (fp, fn float64) {
	fp = softplus(-x)
	if l.GammaPos > 0 {
		fp *= math.Pow(sigmoid(-x), l.GammaPos)
	}
	if l.Clip > 0 {
		pm := math.Max(sigmoid(x)-l.Clip, 0)
		fn = -math.Log(1 - pm)
		if l.GammaNeg > 0 {
			fn *= math.Pow(pm, l.GammaNeg)
		}
		return fp, fn
	}
	fn = softplus(x)
	if l.GammaNeg > 0 {
		fn *= math.Pow(sigmoid(x), l.GammaNeg)
	}
	return fp, fn
}

// Value computes the loss of logits against 0/1 targets y (row-major [N, classes])
// in float64, with posWeight as in Coefficients.
func (l Loss) Value(logits, y, posWeight []float32, classes int) float64 {
	if len(logits) == 0 {
		return 0
	}
	pos := make([]float32, len(y))
	neg := make([]float32, len(y))
	l.Coefficients(y, posWeight, classes, pos, neg)
	var s float64
	for i, x := range logits {
		fp, fn := l.Terms(float64(x))
		s += float64(pos[i])*fp + float64(neg[i])*fn
	}
	return s / float64(len(logits))
}
