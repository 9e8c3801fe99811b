package autotag

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseYAMLSubset(t *testing.T) {
	src := `
# a comment
version: 1
name: "quoted # not a comment"
single: 'it''s'
plain: hello world   # trailing comment
empty:
flags: [true, false, null, ~]
nums: [1, -2.5, 3e2, 151-268, "7"]
rules:
  - tag: dog
    ids: [151-268]
  - tag: cat
    labels:
      - tabby
      - "tiger cat"
  -
    tag: nested
items:
- a
- b
`
	got, err := parseYAMLSubset([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version": 1.0, "name": "quoted # not a comment", "single": "it's", "plain": "hello world",
		"empty": nil, "flags": []any{true, false, nil, nil},
		"nums": []any{1.0, -2.5, 300.0, "151-268", "7"},
		"rules": []any{
			map[string]any{"tag": "dog", "ids": []any{"151-268"}},
			map[string]any{"tag": "cat", "labels": []any{"tabby", "tiger cat"}},
			map[string]any{"tag": "nested"},
		},
		"items": []any{"a", "b"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parse mismatch (-want +got):\n%s", d)
	}
}

func TestParseYAMLSubsetErrors(t *testing.T) {
	for _, src := range []string{
		"a: {b: 1}",
		"a: &anchor 1",
		"a: |\n  block",
		"a: 'open",
		"a: 1\na: 2",
		"a:\n  b: 1\n c: 2",
		"a: [1, 2",
		"\tkey: 1",
	} {
		if _, err := parseYAMLSubset([]byte(src)); err == nil {
			t.Errorf("%q: no error", src)
		} else if !strings.Contains(err.Error(), "line") && !strings.Contains(err.Error(), "unterminated") {
			t.Errorf("%q: error %q does not name the line", src, err)
		}
	}
}

func FuzzParseYAMLSubset(f *testing.F) {
	f.Add(string(defaultRulesYAML))
	f.Add("a:\n- b: [1, 'x']\n  c: \"d\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseYAMLSubset([]byte(s)) // must not panic or hang
	})
}
