package safedoc

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 8, MaxNodes: 1000}

func TestCheckJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{`{"a":[1,{"b":[]}]}`, true},
		{`{"a":"[[[[[[[[[[[[[[[["}`, true},             // brackets in a string
		{`{"a":"\"[[[[[[[[[[[[[[[[[[["}`, true},        // after an escaped quote
		{`{"a":"\\"}` + strings.Repeat("[", 9), false}, // an escaped backslash ends the string
		{strings.Repeat("[", 8) + strings.Repeat("]", 8), true},
		{strings.Repeat("[", 9), false},
		{strings.Repeat(`{"a":`, 9), false},
	} {
		if err := CheckJSONDepth([]byte(tc.doc), 8); (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.doc, err, tc.ok)
		}
	}
}

// TestJSONDecoderOwnLimit records that encoding/json refuses very deep documents by
// itself (so CheckJSONDepth is a tighter bound, not the only one).
func TestJSONDecoderOwnLimit(t *testing.T) {
	var v any
	err := json.Unmarshal([]byte(strings.Repeat("[", 20000)+strings.Repeat("]", 20000)), &v)
	if err == nil || !strings.Contains(err.Error(), "depth") {
		t.Errorf("encoding/json on 20000 levels: %v", err)
	}
}

func TestParseYAML(t *testing.T) {
	n, err := ParseYAML([]byte("a: &x [1, 2]\nb: *x\n"), testLimits)
	if err != nil || n == nil {
		t.Fatalf("plain document: %v", err)
	}
	for _, tc := range []struct{ doc, want string }{
		{"", "empty"},
		{"# comment\n", "empty"},
		{"~\n", "empty"},
		{"a: 1\n---\nb: 2\n", "second YAML document"},
		{strings.Repeat("- ", 9) + "x", "deeper than 8"},
		{"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n", "aliases expanded"},
		{"a: [1, 2", "line 1"},
		{strings.Repeat("x", 2<<20), "over the limit"},
	} {
		_, err := ParseYAML([]byte(tc.doc), testLimits)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: error %v, want one containing %q", tc.doc, err, tc.want)
		}
		if tc.want == "empty" && !errors.Is(err, ErrEmpty) {
			t.Errorf("%q: %v is not ErrEmpty", tc.doc, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(p, 5); err != nil || string(b) != "12345" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if _, err := ReadFile(p, 4); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadFile(dir, 4); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}
