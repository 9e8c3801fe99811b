package train

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestAveragePrecisionHandComputed(t *testing.T) {
	for _, tc := range []struct {
		name           string
		scores, labels []float32
		want           float64
	}{
		// ranks: + − + −  → (1/2)·1 + (1/2)·(2/3) = 0.8333…
		{"distinct", []float32{0.9, 0.8, 0.7, 0.6}, []float32{1, 0, 1, 0}, 5.0 / 6},
		// a tie at 0.5 counts as one threshold: (1/2)·(1/2) + (1/2)·(2/3) = 0.58333…
		{"tie", []float32{0.5, 0.5, 0.2}, []float32{1, 0, 1}, 0.25 + 1.0/3},
		{"perfect", []float32{0.9, 0.1, 0.8}, []float32{1, 0, 1}, 1},
		// the only positive ranked last of four: 1·(1/4)
		{"worst", []float32{0.9, 0.8, 0.7, 0.1}, []float32{0, 0, 0, 1}, 0.25},
	} {
		if got := AveragePrecision(tc.scores, tc.labels); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: AP = %.12f, want %.12f", tc.name, got, tc.want)
		}
	}
	if !math.IsNaN(AveragePrecision([]float32{0.3, 0.2}, []float32{0, 0})) {
		t.Error("AP without positives should be NaN")
	}
}

// TestAveragePrecisionSklearn compares with scikit-learn's average_precision_score
// as reimplemented in numpy (precision_recall_curve over distinct thresholds, then
// −Σ diff(recall)·precision), on 30 scores rounded to create many ties:
//
//	rng = np.random.default_rng(7); s = round(rng.random(30), 1); y = rng.random(30) < 0.3
func TestAveragePrecisionSklearn(t *testing.T) {
	s := parseFloats("0.6,0.9,0.8,0.2,0.3,0.9,0,0.8,0.8,0.5,0.3,0.3,0.3,0.4,0.5,0.6,1,0.8,0.6,1,0.2,0.2,0.6,0,0,0.5,0.5,0.9,0.6,0.5")
	y := parseFloats("0,1,1,1,0,1,0,1,0,1,1,0,0,0,0,0,1,0,0,0,0,0,1,0,0,1,0,0,0,0")
	const want = 0.48271582279010955
	if got := AveragePrecision(s, y); math.Abs(got-want) > 1e-8 { // summation order differs
		t.Errorf("AP = %.15f, want %.15f", got, want)
	}
}

func parseFloats(s string) []float32 {
	var out []float32
	for _, f := range strings.Split(s, ",") {
		var v float64
		_ = json.Unmarshal([]byte(f), &v)
		out = append(out, float32(v))
	}
	return out
}

// TestEvaluateHandComputed: three images, three classes ("c" never occurs).
//
//	probs              labels
//	0.9 0.2 0.1        1 0 0
//	0.6 0.7 0.6        0 1 0
//	0.3 0.4 0.2        1 1 0
//
// at threshold 0.5: a: TP 1 (img0), FP 1 (img1), FN 1 (img2) → P 1/2, R 1/2
//
//	b: TP 1 (img1), FP 0, FN 1 (img2)          → P 1,   R 1/2
//	c: FP 1 (img1), no positives: excluded from C*/O* and mAP
//
// CP = (1/2+1)/2 = 0.75, CR = 0.5, CF1 = 0.6; OP = 2/3, OR = 2/4, OF1 = 4/7.
// AP(a): scores .9+ .6− .3+ → 1/2·1 + 1/2·2/3 = 5/6; AP(b): .7+ .4+ .2− → 1; mAP = 11/12.
// accuracy: 9 labels, wrong: a img1, a img2, b img2, c img1 → 5/9; all-negative: 1 − 4/9 = 5/9.
func TestEvaluateHandComputed(t *testing.T) {
	probs := []float32{0.9, 0.2, 0.1, 0.6, 0.7, 0.6, 0.3, 0.4, 0.2}
	y := []float32{1, 0, 0, 0, 1, 0, 1, 1, 0}
	r, err := Evaluate(probs, y, []string{"a", "b", "c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %.12f, want %.12f", name, got, want)
		}
	}
	check("mAP", r.MAP, 11.0/12)
	if r.APClasses != 2 {
		t.Errorf("APClasses = %d, want 2", r.APClasses)
	}
	check("CP", r.CP, 0.75)
	check("CR", r.CR, 0.5)
	check("CF1", r.CF1, 0.6)
	check("OP", r.OP, 2.0/3)
	check("OR", r.OR, 0.5)
	check("OF1", r.OF1, 4.0/7)
	check("accuracy", r.Accuracy, 5.0/9)
	check("all-negative accuracy", r.AllNegativeAccuracy, 5.0/9)
	if r.PerClass[0].Confused != "b" {
		t.Errorf("a confused with %q, want b", r.PerClass[0].Confused)
	}
	if w := r.Worst(1); len(w) != 1 || w[0].Class != "a" {
		t.Errorf("worst = %+v, want class a", w)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"class":"c","positives":0,"threshold":0.5,"tp":0,"fp":1,"fn":0,"confused_with":"b","ap":null`) {
		t.Errorf("JSON of a class without positives: %s", b)
	}
	if m, n := MeanAP(probs, y, 3); math.Abs(m-11.0/12) > 1e-12 || n != 2 {
		t.Errorf("MeanAP = %v over %d", m, n)
	}
}

func TestEvaluateBadShapes(t *testing.T) {
	if _, err := Evaluate([]float32{1, 2, 3}, []float32{1, 0}, []string{"a"}, nil); err == nil {
		t.Error("want an error for mismatched lengths")
	}
	if _, err := Evaluate([]float32{1, 2}, []float32{1, 0}, []string{"a", "b"}, []float32{0.5}); err == nil {
		t.Error("want an error for a wrong threshold count")
	}
}
