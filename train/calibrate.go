package train

import (
	"fmt"
)

// DefaultThreshold is the decision threshold of a class that has no positive in the
// calibration set (sigmoid outputs: even odds).
const DefaultThreshold = 0.5

// CalibrateThresholds picks, for each class, the decision threshold on validation
// probabilities that maximises that class' F1 score. The chosen threshold is the
// midpoint between the lowest score still predicted positive and the next lower
// score (so it generalises a little better than the score itself), clamped to
// [floor, 1−floor]. Classes with fewer than minPositives positives in the set keep
// DefaultThreshold: a max-F1 cut fitted to one or two examples is noise (on a
// 128-image validation set it put "dog" at 0.09 after its single positive).
// probs and y are row-major [images, classes].
func CalibrateThresholds(probs, y []float32, classes int, floor float32, minPositives int) ([]float32, error) {
	if classes <= 0 || len(probs) != len(y) || len(probs)%classes != 0 {
		return nil, fmt.Errorf("train: calibrate: %d scores and %d labels do not fit %d classes", len(probs), len(y), classes)
	}
	if floor < 0 || floor >= 0.5 {
		return nil, fmt.Errorf("train: calibrate: floor %v outside [0, 0.5)", floor)
	}
	n := len(probs) / classes
	out := make([]float32, classes)
	col := make([]float32, n)
	for k := 0; k < classes; k++ {
		npos := 0
		for i := 0; i < n; i++ {
			col[i] = probs[i*classes+k]
			if y[i*classes+k] > 0.5 {
				npos++
			}
		}
		if npos == 0 || npos < minPositives {
			out[k] = DefaultThreshold
			continue
		}
		idx := sortedByScore(col)
		bestF1, bestAt := -1.0, 0
		tp, fp := 0, 0
		for i := 0; i < n; {
			j := i
			for j < n && col[idx[j]] == col[idx[i]] {
				if y[idx[j]*classes+k] > 0.5 {
					tp++
				} else {
					fp++
				}
				j++
			}
			f1 := 2 * float64(tp) / float64(tp+fp+npos)
			if f1 > bestF1 {
				bestF1, bestAt = f1, j
			}
			i = j
		}
		th := col[idx[bestAt-1]]
		if bestAt < n {
			th = (th + col[idx[bestAt]]) / 2
		}
		out[k] = min(max(th, floor), 1-floor)
	}
	return out, nil
}
