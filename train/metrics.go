package train

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Multi-label metrics as the literature reports them (e.g. Chen et al. 2019, ML-GCN;
// Ridnik et al. 2021, ASL): mean average precision over classes, and per-class and
// overall precision/recall/F1 at decision thresholds. Per-label accuracy is reported
// only beside the all-negative predictor's, because on COCO a model that never
// predicts any tag already scores close to 1 (most labels are negative).

// AveragePrecision is the non-interpolated average precision of scores against 0/1
// labels, identical to scikit-learn's average_precision_score:
//
//	AP = Σ_n (R_n − R_{n−1}) · P_n
//
// over the distinct score thresholds in decreasing order (tied scores form one
// threshold). It returns NaN when there is no positive label.
func AveragePrecision(scores, labels []float32) float64 {
	idx := sortedByScore(scores)
	var npos int
	for _, l := range labels {
		if l > 0.5 {
			npos++
		}
	}
	if npos == 0 {
		return math.NaN()
	}
	var ap, prevRecall float64
	tp, fp := 0, 0
	for i := 0; i < len(idx); {
		// consume all items tied at this score
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if labels[idx[j]] > 0.5 {
				tp++
			} else {
				fp++
			}
			j++
		}
		recall := float64(tp) / float64(npos)
		precision := float64(tp) / float64(tp+fp)
		ap += (recall - prevRecall) * precision
		prevRecall = recall
		i = j
	}
	return ap
}

// PRPoint is one point of a precision-recall curve.
type PRPoint struct {
	Threshold, Precision, Recall float64
}

// PRCurve returns the precision-recall curve of scores against labels, one point per
// distinct score in decreasing order (nil when there is no positive).
func PRCurve(scores, labels []float32) []PRPoint {
	idx := sortedByScore(scores)
	var npos int
	for _, l := range labels {
		if l > 0.5 {
			npos++
		}
	}
	if npos == 0 {
		return nil
	}
	var out []PRPoint
	tp, fp := 0, 0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if labels[idx[j]] > 0.5 {
				tp++
			} else {
				fp++
			}
			j++
		}
		out = append(out, PRPoint{Threshold: float64(scores[idx[i]]),
			Precision: float64(tp) / float64(tp+fp), Recall: float64(tp) / float64(npos)})
		i = j
	}
	return out
}

// sortedByScore returns indices of scores in decreasing score order (stable).
func sortedByScore(scores []float32) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx
}

// ClassReport holds one class's figures.
type ClassReport struct {
	Class     string  `json:"class"`
	Positives int     `json:"positives"`               // ground-truth positives
	AP        float64 `json:"ap"`                      // NaN (null in JSON) without positives
	Threshold float32 `json:"threshold"`               // decision threshold used
	TP        int     `json:"tp"`                      // at the threshold
	FP        int     `json:"fp"`                      // at the threshold
	FN        int     `json:"fn"`                      // at the threshold
	Confused  string  `json:"confused_with,omitempty"` // most frequent true label among this class' false positives
}

// Report is an evaluation of per-class probabilities against 0/1 labels.
type Report struct {
	Images  int `json:"images"`
	Classes int `json:"classes"`
	// MAP is the mean of AP over the APClasses classes that have at least one
	// positive in the evaluated set.
	MAP       float64 `json:"map"`
	APClasses int     `json:"ap_classes"`
	// Per-class (C*) and overall (O*) precision, recall and F1 at the thresholds,
	// over classes with at least one positive. A class never predicted has
	// precision 0. CF1 and OF1 are the harmonic means of CP,CR and OP,OR (ML-GCN).
	CP  float64 `json:"cp"`
	CR  float64 `json:"cr"`
	CF1 float64 `json:"cf1"`
	OP  float64 `json:"op"`
	OR  float64 `json:"or"`
	OF1 float64 `json:"of1"`
	// Accuracy is per-label accuracy (TP+TN)/(images·classes); AllNegativeAccuracy
	// is what predicting no tag at all would score.
	Accuracy            float64       `json:"accuracy"`
	AllNegativeAccuracy float64       `json:"all_negative_accuracy"`
	PerClass            []ClassReport `json:"per_class"`
}

// Evaluate computes the report for probabilities probs and labels y (both row-major
// [images, len(classes)]) at the per-class thresholds (nil: 0.5 for every class).
func Evaluate(probs, y []float32, classes []string, thresholds []float32) (*Report, error) {
	c := len(classes)
	if c == 0 || len(probs) != len(y) || len(probs)%c != 0 {
		return nil, fmt.Errorf("train: evaluate: %d scores and %d labels do not fit %d classes", len(probs), len(y), c)
	}
	if thresholds != nil && len(thresholds) != c {
		return nil, fmt.Errorf("train: evaluate: %d thresholds for %d classes", len(thresholds), c)
	}
	n := len(probs) / c
	r := &Report{Images: n, Classes: c, PerClass: make([]ClassReport, c)}
	col := make([]float32, n)
	lab := make([]float32, n)
	var sumAP, sumP, sumR float64
	var tpAll, fpAll, fnAll, correct, positives int
	for k := 0; k < c; k++ {
		th := float32(0.5)
		if thresholds != nil {
			th = thresholds[k]
		}
		cr := ClassReport{Class: classes[k], Threshold: th}
		confused := make([]int, c)
		for i := 0; i < n; i++ {
			col[i], lab[i] = probs[i*c+k], y[i*c+k]
			pos := lab[i] > 0.5
			pred := col[i] >= th
			if pos {
				cr.Positives++
			}
			switch {
			case pos && pred:
				cr.TP++
			case !pos && pred:
				cr.FP++
				for j := 0; j < c; j++ {
					if y[i*c+j] > 0.5 {
						confused[j]++
					}
				}
			case pos && !pred:
				cr.FN++
			default:
				correct++
			}
		}
		correct += cr.TP
		positives += cr.Positives
		cr.AP = AveragePrecision(col, lab)
		if best, bi := 0, -1; true {
			for j, v := range confused {
				if v > best {
					best, bi = v, j
				}
			}
			if bi >= 0 {
				cr.Confused = classes[bi]
			}
		}
		if cr.Positives > 0 {
			r.APClasses++
			sumAP += cr.AP
			if cr.TP+cr.FP > 0 {
				sumP += float64(cr.TP) / float64(cr.TP+cr.FP)
			}
			sumR += float64(cr.TP) / float64(cr.Positives)
			tpAll += cr.TP
			fpAll += cr.FP
			fnAll += cr.FN
		}
		r.PerClass[k] = cr
	}
	if r.APClasses > 0 {
		r.MAP = sumAP / float64(r.APClasses)
		r.CP = sumP / float64(r.APClasses)
		r.CR = sumR / float64(r.APClasses)
	}
	r.CF1 = harmonic(r.CP, r.CR)
	if tpAll+fpAll > 0 {
		r.OP = float64(tpAll) / float64(tpAll+fpAll)
	}
	if tpAll+fnAll > 0 {
		r.OR = float64(tpAll) / float64(tpAll+fnAll)
	}
	r.OF1 = harmonic(r.OP, r.OR)
	total := float64(n * c)
	r.Accuracy = float64(correct) / total
	r.AllNegativeAccuracy = 1 - float64(positives)/total
	return r, nil
}

func harmonic(a, b float64) float64 {
	if a+b == 0 {
		return 0
	}
	return 2 * a * b / (a + b)
}

// MarshalJSON writes AP as null for a class without positives (JSON has no NaN).
func (c ClassReport) MarshalJSON() ([]byte, error) {
	type plain ClassReport
	out := struct {
		plain
		AP *float64 `json:"ap"`
	}{plain: plain(c)}
	if !math.IsNaN(c.AP) {
		out.AP = &c.AP
	}
	return json.Marshal(out)
}

// Worst returns up to k classes with positives, lowest AP first.
func (r *Report) Worst(k int) []ClassReport {
	var out []ClassReport
	for _, c := range r.PerClass {
		if c.Positives > 0 {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AP < out[j].AP })
	if len(out) > k {
		out = out[:k]
	}
	return out
}

// MeanAP returns the mAP of probs against y over classes with at least one positive
// and how many classes that was.
func MeanAP(probs, y []float32, classes int) (float64, int) {
	n := len(probs) / classes
	col := make([]float32, n)
	lab := make([]float32, n)
	var sum float64
	var cnt int
	for k := 0; k < classes; k++ {
		for i := 0; i < n; i++ {
			col[i], lab[i] = probs[i*classes+k], y[i*classes+k]
		}
		if ap := AveragePrecision(col, lab); !math.IsNaN(ap) {
			sum += ap
			cnt++
		}
	}
	if cnt == 0 {
		return 0, 0
	}
	return sum / float64(cnt), cnt
}
