package nn

// Linear is a fully connected layer y = x·Wᵀ + b with PyTorch's weight layout [out, in].
type Linear struct {
	Weight *Param // [out, in]
	Bias   *Param // [out]
}

// newLinear declares prefix.weight and prefix.bias.
func newLinear(prefix string, in, out int) *Linear {
	return &Linear{Weight: newParam(prefix+".weight", out, in), Bias: newParam(prefix+".bias", out)}
}

func (l *Linear) slots() []slot { return []slot{l.Weight.slot(), l.Bias.slot()} }
