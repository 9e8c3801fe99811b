package nn

// BatchNorm is an inference-mode batch normalisation layer (Ioffe & Szegedy 2015):
// y = (x − mean) / sqrt(var + eps) · weight + bias, per channel. It is never executed
// as such: Bind folds it into the preceding convolution (see fold.go).
type BatchNorm struct {
	Weight      *Param // gamma [C]
	Bias        *Param // beta [C]
	RunningMean *Stat  // [C]
	RunningVar  *Stat  // [C]
	Eps         float64
}

// newBatchNorm declares prefix.{weight,bias,running_mean,running_var}.
func newBatchNorm(prefix string, c int, eps float64) *BatchNorm {
	return &BatchNorm{
		Weight:      newParam(prefix+".weight", c),
		Bias:        newParam(prefix+".bias", c),
		RunningMean: newStat(prefix+".running_mean", c),
		RunningVar:  newStat(prefix+".running_var", c),
		Eps:         eps,
	}
}

func (b *BatchNorm) slots() []slot {
	return []slot{b.Weight.slot(), b.Bias.slot(), b.RunningMean.slot(), b.RunningVar.slot()}
}
