package nn

import "math"

// Softmax turns each row of classes logits into probabilities in place (numerically
// stable: the row maximum is subtracted before exponentiating; sums in float64).
func Softmax(logits []float32, classes int) {
	for start := 0; start+classes <= len(logits); start += classes {
		row := logits[start : start+classes]
		m := float32(math.Inf(-1))
		for _, v := range row {
			m = max(m, v)
		}
		var sum float64
		for i, v := range row {
			e := math.Exp(float64(v - m))
			row[i] = float32(e)
			sum += e
		}
		inv := 1 / sum
		for i, v := range row {
			row[i] = float32(float64(v) * inv)
		}
	}
}

// Sigmoid applies the logistic function 1/(1+e^−x) to every logit in place, for
// multi-label heads. classes is accepted for symmetry with Softmax.
func Sigmoid(logits []float32, classes int) {
	_ = classes
	for i, v := range logits {
		if v >= 0 {
			logits[i] = float32(1 / (1 + math.Exp(-float64(v))))
		} else {
			e := math.Exp(float64(v))
			logits[i] = float32(e / (1 + e))
		}
	}
}
