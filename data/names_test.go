package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadNamesHostile checks that names files built to exhaust the stack, the heap or
// the CPU are refused with an error.
func TestReadNamesHostile(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'j'; i++ {
		p := string(i - 1)
		laughs += fmt.Sprintf("%c: &%c [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", i, i, p, p, p, p, p, p, p, p, p, p)
	}
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"deep.yaml":   {"names:\n" + strings.Repeat("- ", 9000) + "x\n", "deeper than"},
		"deeper.yaml": {"names:\n" + strings.Repeat("- ", 200000) + "x\n", "depth"},
		"flow.yaml":   {"names: " + strings.Repeat("[", 100000), "depth"},
		"laughs.yaml": {laughs + "names: *j\n", "aliases expanded"},
		"huge.yaml":   {"names: [a]\n" + strings.Repeat("#", MaxNamesBytes), "over the limit"},
		"nested.yaml": {"names: [[a]]\n", "non-empty scalar"},
		"null.yaml":   {"names: [a, ~]\n", "line 1"},
		"ids.yaml":    {"names:\n  0: a\n  99999999999: b\n", "line 3: class id"},
		"two.yaml":    {"names: [a]\n---\nnames: [b]\n", "second YAML document"},
	} {
		writeFiles(t, dir, map[string]string{name: tc.body})
		_, err := ReadNames(filepath.Join(dir, name))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	if _, err := ReadNames(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as names file: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := ReadNames("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("/dev/zero as names file: %v", err)
		}
	}
}

// TestReadNamesYAMLForms checks YAML forms the hand-written reader did not know.
func TestReadNamesYAMLForms(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"flowmap.yaml": "names: {0: person, 1: bicycle, 2: traffic light}\n",
		"anchor.yaml":  "x: &p person\nnames: [*p, bicycle, 'traffic light']\n",
		"doc.yaml":     "---\npath: ../datasets/coco\nnames:\n- person\n- bicycle\n- traffic light\n...\n",
	} {
		writeFiles(t, dir, map[string]string{name: body})
		got, err := ReadNames(filepath.Join(dir, name))
		if err != nil || !slices.Equal(got, []string{"person", "bicycle", "traffic light"}) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

// FuzzParseYAMLNames checks that no names yaml panics, hangs or yields an empty name.
func FuzzParseYAMLNames(f *testing.F) {
	for _, s := range []string{
		"train: x\nnames:\n  0: person\n  1: bicycle\n  2: traffic light\ndownload: |\n  foo\n",
		"names:\n  - person\n  - \"bicycle\"\n  - traffic light\nnc: 3\n",
		"nc: 3\nnames: ['person', \"bicycle\",\n  'traffic light']  # coco\n",
		"names: {0: a, 1: b}\n",
		"x: &p a\nnames: [*p, *p]\n",
		"names:\n  0: a\n  2: c\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		names, err := parseYAMLNames(b)
		if err != nil {
			return
		}
		if len(names) > maxClassID+1 {
			t.Fatalf("%d names", len(names))
		}
		for i, n := range names {
			if strings.TrimSpace(n) == "" {
				t.Fatalf("name %d is empty", i)
			}
		}
	})
}
