package jsonnum

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMarshalIndentRounds(t *testing.T) {
	type result struct {
		Score   float64            `json:"score"`
		Count   int                `json:"count"`
		Big     int64              `json:"big"`
		Name    string             `json:"name"`
		Timing  map[string]float64 `json:"timing_ms"`
		MsPer   float64            `json:"ms_per_image"`
		LR      float64            `json:"lr"`
		Seconds float64            `json:"seconds"`
		Curve   []float32          `json:"curve"`
		Nested  []map[string]any   `json:"nested"`
		Tiny    float64            `json:"tiny"`
		Huge    float64            `json:"huge"`
	}
	v := result{Score: 0.9485969701436403, Count: 3, Big: 1 << 60, Name: `0.123456789 "x" \ 1.23456`,
		Timing: map[string]float64{"decode": 0.7850000000000001, "total": 12.3456},
		MsPer:  41.23456, LR: 3.2123456e-5, Seconds: 1.23456, Curve: []float32{0.1, 0.333333343},
		Nested: []map[string]any{{"ap": 0.666666666, "n": 2}}, Tiny: -1e-9, Huge: 1.5e300}
	b, err := MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		`"score": 0.9486,`, `"count": 3,`, `"big": 1152921504606846976,`,
		`"name": "0.123456789 \"x\" \\ 1.23456",`,
		`"decode": 0.79,`, `"total": 12.35`, `"ms_per_image": 41.23,`, `"lr": 3.212e-05,`,
		`"seconds": 1.235,`, "0.1,\n    0.3333\n", `"ap": 0.6667,`, `"n": 2`, `"tiny": 0,`, `"huge": 1.5e+300`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
	var back result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("rounded output is not valid JSON: %v\n%s", err, got)
	}
	if back.Name != v.Name || back.Big != v.Big {
		t.Errorf("strings or integers changed: %+v", back)
	}
	// the layout json.MarshalIndent chose is kept
	plain, _ := json.MarshalIndent(v, "", "  ")
	if strings.Count(got, "\n") != strings.Count(string(plain), "\n") {
		t.Errorf("layout changed:\n%s\n---\n%s", got, plain)
	}
}

func TestRewriteRefusesInvalidJSON(t *testing.T) {
	for _, doc := range []string{"", "{", `{"a":1.5`, `"unterminated`, "[1.5,]"} {
		if _, err := Rewrite([]byte(doc), Default); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

func TestRound(t *testing.T) {
	for _, tc := range []struct {
		x      float64
		digits int
		want   float64
	}{{0.9485969701436403, 4, 0.9486}, {0.7850000000000001, 2, 0.79}, {-2.5, 0, -3}, {1e300, 4, 1e300}} {
		if got := Round(tc.x, tc.digits); got != tc.want {
			t.Errorf("Round(%v, %d) = %v, want %v", tc.x, tc.digits, got, tc.want)
		}
	}
	if Score(0.12345) != 0.1235 && Score(0.12345) != 0.1234 || Millis(1.005) > 1.01 {
		t.Errorf("Score/Millis")
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add([]byte(`{"a":[1.23456,{"b_ms":0.785,"c":"x\"1.5"}],"lr":1e-7}`))
	f.Add([]byte(`[-0.0, 1E400, 3]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, err := Rewrite(doc, Default)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Rewrite made invalid JSON of %q: %q", doc, out)
		}
	})
}
