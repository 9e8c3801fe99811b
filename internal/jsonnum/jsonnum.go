// Package jsonnum rounds the floating-point numbers in the JSON that autotag
// prints, so people and diffs see 0.9486 rather than 0.9485969701436403 and
// 0.79 ms rather than 0.7850000000000001: scores and metrics to ScoreDigits
// decimals, timings in milliseconds to TimingDigits, learning rates to a few
// significant digits (fixed decimals would print a small one as 0). The digits
// kept are far beyond what the numbers mean; integers are never touched.
package jsonnum

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Decimals kept by Default.
const (
	ScoreDigits  = 4 // scores, probabilities, metrics, losses
	TimingDigits = 2 // milliseconds
)

// Round rounds x to digits decimals; non-finite values are returned as they are.
func Round(x float64, digits int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	p := math.Pow(10, float64(digits))
	r := math.Round(x*p) / p
	if math.IsInf(r*p, 0) { // too large to scale: already has no such decimals
		return x
	}
	return r
}

// Score rounds a score or metric to ScoreDigits decimals.
func Score(x float64) float64 { return Round(x, ScoreDigits) }

// Millis rounds a duration in milliseconds to TimingDigits decimals.
func Millis(x float64) float64 { return Round(x, TimingDigits) }

// Precision says how to round one number: Digits decimals, or Digits significant
// digits when Significant; Digits < 0 keeps the number as it is.
type Precision struct {
	Digits      int
	Significant bool
}

// Rule chooses the precision of a number from the object keys on its path (the
// innermost last; array elements inherit their array's key).
type Rule func(path []string) Precision

// Default rounds timings (a key with an "ms" word, such as ms_per_image or
// anything under timing_ms) to TimingDigits decimals, "seconds" to 3, learning
// rates ("lr", "*_lr") to 4 significant digits, and every other number to
// ScoreDigits decimals.
func Default(path []string) Precision {
	if len(path) > 0 {
		k := path[len(path)-1]
		if k == "lr" || strings.HasSuffix(k, "_lr") {
			return Precision{Digits: 4, Significant: true}
		}
		if k == "seconds" {
			return Precision{Digits: 3}
		}
	}
	for _, k := range path {
		for _, w := range strings.Split(k, "_") {
			if w == "ms" {
				return Precision{Digits: TimingDigits}
			}
		}
	}
	return Precision{Digits: ScoreDigits}
}

// MarshalIndent is json.MarshalIndent with the numbers rounded by Default.
func MarshalIndent(v any, prefix, indent string) ([]byte, error) {
	b, err := json.MarshalIndent(v, prefix, indent)
	if err != nil {
		return nil, err
	}
	return Rewrite(b, Default)
}

// Marshal is json.Marshal with the numbers rounded by Default.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Rewrite(b, Default)
}

// Encode writes v as indented JSON and a newline to w, numbers rounded by Default,
// as a json.Encoder with SetIndent("", indent) would.
func Encode(w io.Writer, v any, indent string) error {
	b, err := MarshalIndent(v, "", indent)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Rewrite returns the JSON document doc with every non-integer number rounded as
// rule says; everything else (key order, spacing, strings) is kept byte for byte.
func Rewrite(doc []byte, rule Rule) ([]byte, error) {
	if !json.Valid(doc) {
		return nil, fmt.Errorf("jsonnum: not valid JSON")
	}
	out := make([]byte, 0, len(doc))
	// keys[i] is the key of the value being written at nesting depth i.
	keys := []string{""}
	lastString := ""
	for i := 0; i < len(doc); {
		c := doc[i]
		switch {
		case c == '"':
			j := i + 1
			for doc[j] != '"' {
				if doc[j] == '\\' {
					j++
				}
				j++
			}
			s := doc[i : j+1]
			_ = json.Unmarshal(s, &lastString)
			out = append(out, s...)
			i = j + 1
			continue
		case c == ':':
			keys[len(keys)-1] = lastString
		case c == '{':
			keys = append(keys, "")
		case c == '[':
			keys = append(keys, keys[len(keys)-1])
		case c == '}' || c == ']':
			keys = keys[:len(keys)-1]
		case c == '-' || c >= '0' && c <= '9':
			j := i
			for j < len(doc) && strings.IndexByte("+-.0123456789eE", doc[j]) >= 0 {
				j++
			}
			out = append(out, roundLiteral(doc[i:j], rule(pathOf(keys)))...)
			i = j
			continue
		}
		out = append(out, c)
		i++
	}
	return out, nil
}

// pathOf drops the empty keys of the nesting stack (the top level, array levels).
func pathOf(keys []string) []string {
	var p []string
	for i, k := range keys {
		if k != "" && (i == 0 || k != keys[i-1]) {
			p = append(p, k)
		}
	}
	return p
}

// roundLiteral rounds one JSON number literal; integers are kept as written.
func roundLiteral(lit []byte, p Precision) []byte {
	if p.Digits < 0 || !bytes.ContainsAny(lit, ".eE") {
		return lit
	}
	x, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return lit
	}
	if p.Significant {
		return strconv.AppendFloat(nil, x, 'g', p.Digits, 64)
	}
	x = Round(x, p.Digits)
	switch {
	case x == 0:
		return []byte("0")
	case math.Abs(x) >= 1e21:
		return strconv.AppendFloat(nil, x, 'g', -1, 64)
	}
	return strconv.AppendFloat(nil, x, 'f', -1, 64)
}
