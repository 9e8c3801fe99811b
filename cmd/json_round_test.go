package cmd

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/train"
)

// decimalsByKey decodes doc and returns, for each object key, the most decimals
// any number under it (directly or in an array) is written with.
func decimalsByKey(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	out := map[string]int{}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		case json.Number:
			s := string(x)
			if i := strings.IndexByte(s, '.'); i >= 0 && !strings.ContainsAny(s, "eE") {
				out[key] = max(out[key], len(s)-i-1)
			}
		}
	}
	walk("", v)
	return out
}

// TestEvalJSONRounded: `eval --json` writes metrics with at most 4 decimals (and a
// small learning rate not as 0), as valid JSON that reads back.
func TestEvalJSONRounded(t *testing.T) {
	third := 1.0 / 3
	rep := &train.Report{Images: 3, Classes: 2, MAP: 0.9485969701436403, APClasses: 1, CP: third, CR: 2 * third,
		CF1: 0.4444444444444444, OP: third, OR: third, OF1: third, Accuracy: 0.8333333333333334, AllNegativeAccuracy: 0.6666666666666667,
		PerClass: []train.ClassReport{{Class: "a", Positives: 2, AP: 0.7850000000000001, Threshold: 0.30000001},
			{Class: "b", AP: math.NaN(), Threshold: 0.5}}}
	res := &train.EvalResult{Model: "m", Data: "d", Head: "linear", Report: rep, AtHalf: rep, Seconds: 12.3456789,
		History: []train.EpochStats{{Epoch: 1, TrainLoss: 0.123456789, ValLoss: math.NaN(), ValMAP: math.NaN(), LR: 3.2123456e-5}}}
	path := filepath.Join(t.TempDir(), "report.json")
	if err := writeEvalJSON(path, res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, n := range decimalsByKey(t, b) {
		if n > 4 {
			t.Errorf("%s written with %d decimals:\n%s", key, n, b)
		}
	}
	var back struct {
		Report struct {
			MAP      float64 `json:"map"`
			PerClass []struct {
				AP *float64 `json:"ap"`
			} `json:"per_class"`
		} `json:"report"`
		History []struct {
			LR float64 `json:"lr"`
		} `json:"history"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Report.MAP != 0.9486 || back.Report.PerClass[1].AP != nil || back.History[0].LR < 3.2e-5 || back.History[0].LR > 3.22e-5 {
		t.Errorf("read back %+v\n%s", back, b)
	}
}

// TestDataStatsJSONRounded: `data stats --json` prints pos_weight and repeat factors
// with at most 4 decimals.
func TestDataStatsJSONRounded(t *testing.T) {
	spec, err := data.Synthetic(12, 64, 5).WriteCSV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "", "data", "stats", "--json", spec)
	if err != nil {
		t.Fatal(err)
	}
	for key, n := range decimalsByKey(t, []byte(out)) {
		if n > 4 {
			t.Errorf("%s written with %d decimals:\n%s", key, n, out)
		}
	}
}
