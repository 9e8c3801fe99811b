package autotag

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autotag/autotag/internal/testenv"
	"github.com/autotag/autotag/weights"
)

func TestDefaultRulesParse(t *testing.T) {
	r := DefaultRules()
	tags := map[string]int{}
	for _, rule := range r.Rules {
		tags[rule.Tag]++
	}
	// Every COCO category ImageNet-1k can express (see the file's header for the rest).
	for _, want := range []string{"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
		"boat", "traffic light", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
		"elephant", "bear", "zebra", "backpack", "umbrella", "handbag", "tie", "skis", "sports ball",
		"tennis racket", "bottle", "wine glass", "cup", "knife", "spoon", "bowl", "banana", "apple",
		"sandwich", "orange", "broccoli", "hot dog", "pizza", "chair", "couch", "potted plant", "bed",
		"dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave",
		"oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "teddy bear", "hair drier"} {
		if tags[want] != 1 {
			t.Errorf("default rules: tag %q appears %d times, want 1", want, tags[want])
		}
	}
	classes := imagenetClasses(t)
	cr, err := compileRules(r, classes, "softmax", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := cr.groups[cr.byTag["dog"]]
	if len(g.members) != 118 || g.category != "animal" {
		t.Errorf("dog: %d members, category %q; want 118 breeds in animal", len(g.members), g.category)
	}
	if g := cr.groups[cr.byTag["bird"]]; len(g.members) != 59 {
		t.Errorf("bird: %d members, want 59", len(g.members))
	}
	if _, ok := cr.byTag["Chihuahua"]; ok {
		t.Error("Chihuahua is still reported on its own")
	}
	if _, ok := cr.byTag["seashore"]; !ok {
		t.Error("others: keep did not keep seashore")
	}
}

// imagenetClasses returns the 1000 ImageNet labels from the npm package when present,
// else placeholder names (indices are what the default rules use).
func imagenetClasses(t *testing.T) []string {
	t.Helper()
	classes := make([]string, 1000)
	for i := range classes {
		classes[i] = "class" + string(rune('A'+i%26)) + strings.Repeat("x", i/26)
	}
	for _, p := range []string{filepath.Join(testenv.RepoRoot(), "..", "cache", "npm", "package", "assets", "labels.json")} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var m map[string]string
		if json.Unmarshal(b, &m) == nil && len(m) == 1000 {
			for k, v := range m {
				var i int
				if _, err := fmt.Sscan(k, &i); err == nil && i >= 0 && i < 1000 {
					classes[i] = v
				}
			}
		}
	}
	classes[21], classes[151], classes[281], classes[978] = "kite", "Chihuahua", "tabby", "seashore"
	return classes
}

func TestRulesSelect(t *testing.T) {
	classes := []string{"tabby", "Persian_cat", "beagle", "web_site", "seashore", "crane", "crane"}
	r, err := ParseRules([]byte(`
aggregate: sum
rules:
  - tag: cat
    category: animal
    labels: [tabby, persian cat]
  - tag: dog
    category: animal|pet
    ids: [2]
    threshold: 0.5
  - labels: [web_site]
    priority: -1
`))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := NewSelector(classes, "softmax", r, nil)
	if err != nil {
		t.Fatal(err)
	}
	probs := []float32{0.3, 0.2, 0.4, 0.9, 0.15, 0.05, 0.06}
	got := tg.Select(probs, Selection{})
	want := []Tag{{"cat", 0.5}, {"seashore", 0.15}, {"crane", 0.11}}
	if !tagsNear(got, want) {
		t.Errorf("Select = %v, want %v (dog is below its 0.5 rule threshold, web_site hidden, the two cranes merged)", got, want)
	}
	th := 0.12
	got = tg.Select(probs, Selection{Threshold: &th, TopK: 2})
	want = []Tag{{"cat", 0.5}, {"dog", 0.4}}
	if !tagsNear(got, want) {
		t.Errorf("explicit threshold: Select = %v, want %v", got, want)
	}
	if c := tg.Category("dog"); c != "animal|pet" {
		t.Errorf("Category(dog) = %q", c)
	}
	if got := tg.Select(probs[:3], Selection{}); got != nil {
		t.Errorf("wrong-length probs: %v, want nil", got)
	}

	// max aggregation; others dropped.
	r.Aggregate, r.Others = "max", "drop"
	if tg, err = NewSelector(classes, "softmax", r, nil); err != nil {
		t.Fatal(err)
	}
	got = tg.Select(probs, Selection{})
	want = []Tag{{"cat", 0.3}}
	if !tagsNear(got, want) {
		t.Errorf("max/drop: Select = %v, want %v", got, want)
	}
}

func TestRulesErrors(t *testing.T) {
	classes := []string{"a", "b", "c"}
	for _, tc := range []struct{ doc, want string }{
		{`rules: [{tag: x}]`, "selects no labels"}, // flow mappings are YAML too
		{"rules:\n  - tag: x\n    ids: [abc]\n", "line 3: class ids: bad range"},
		{"rules:\n  - tag: x\n    threshold: high\n", "line 3:"},
		{"rules:\n  - tag: x\n    tag: y\n", "line 3: mapping key \"tag\" already defined at line 2"},
		{"rules: []\n---\nrules: []\n", "second YAML document"},
		{"# only a comment\n", "empty rules document"},
		{"rules: [a, b", "line 1"},
		{"{\"rules\": [{\"tag\": \"x\",\n \"ids\": [{}]}]}", "line 2"},
		{"rules:\n  - tag: x\n", "selects no labels"},
		{"rules:\n  - tag: x\n    labels: [zzz]\n", `no label "zzz"`},
		{"rules:\n  - tag: x\n    ids: [5]\n", "out of range"},
		{"rules:\n  - tag: x\n    ids: [0-1]\n  - tag: y\n    ids: [1]\n", "already claimed"},
		{"rules:\n  - tag: x\n    ids: [0]\n    threshold: 2\n", "outside [0,1]"},
		{"aggregate: mean\nrules: []\n", "want sum or max"},
		{"rulez: []\n", "line 1: field rulez not found"},
		{`{"rulez": []}`, `unknown field "rulez"`},
		{"rules:\n  - tag: x\n    ids: [3-1]\n", "bad range"},
		{`{"rules":[{"tag":"x","ids":[-1]}]}`, "non-negative"},
	} {
		r, err := ParseRules([]byte(tc.doc))
		if err == nil {
			_, err = compileRules(r, classes, "sigmoid", nil)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.doc, err, tc.want)
		}
	}
}

func TestRulesJSONRoundTrip(t *testing.T) {
	r := DefaultRules()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ParseRules(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(r2)
	if string(b) != string(b2) {
		t.Error("JSON round trip changed the rules")
	}
}

func TestModelThresholdsAndSigmoid(t *testing.T) {
	classes := []string{"a", "b"}
	tg, err := NewSelector(classes, "sigmoid", nil, []float32{0.2, 0.9})
	if err != nil {
		t.Fatal(err)
	}
	got := tg.Select([]float32{0.3, 0.8}, Selection{})
	if !tagsNear(got, []Tag{{"a", 0.3}}) {
		t.Errorf("model thresholds: %v", got)
	}
	th := 0.0
	if got := tg.Select([]float32{0.3, 0.8}, Selection{Threshold: &th, TopK: -1}); len(got) != 2 {
		t.Errorf("threshold 0: %v", got)
	}
}

func tagsNear(got, want []Tag) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Label != want[i].Label || math.Abs(got[i].Score-want[i].Score) > 1e-6 {
			return false
		}
	}
	return true
}

// TestDefaultRulesMatchImageNetNames checks the class names written beside the indices
// in rules/imagenet-coco.yaml against the imported model's labels, so an index typo
// cannot map, say, "cleaver" to knife by accident.
func TestDefaultRulesMatchImageNetNames(t *testing.T) {
	meta, err := weights.ReadMetadata(testenv.KerasModel(t))
	if err != nil {
		t.Fatal(err)
	}
	classes := meta.Classes
	if len(classes) != 1000 {
		t.Fatalf("%d classes", len(classes))
	}
	name := func(s string) string { // "pot (flowerpot)" → "pot"
		s, _, _ = strings.Cut(strings.TrimSpace(s), " ")
		return s
	}
	checked := 0
	for n, line := range strings.Split(string(defaultRulesYAML), "\n") {
		code, comment, ok := strings.Cut(line, "#")
		if !ok || strings.TrimSpace(code) == "" {
			continue
		}
		code = strings.TrimSpace(code)
		var ids []string
		switch {
		case strings.HasPrefix(code, "ids: [") && !strings.Contains(code, "-"):
			ids = strings.Split(strings.TrimSuffix(strings.TrimPrefix(code, "ids: ["), "]"), ",")
		case strings.HasPrefix(code, "- ") && !strings.Contains(code[2:], "-") && !strings.Contains(code, ":"):
			ids = []string{code[2:]}
		default:
			continue
		}
		names := strings.Split(comment, ",")
		if len(names) != len(ids) {
			t.Errorf("line %d: %d ids but %d names in the comment", n+1, len(ids), len(names))
			continue
		}
		for i, id := range ids {
			var k int
			if _, err := fmt.Sscan(strings.TrimSpace(id), &k); err != nil || k < 0 || k >= 1000 {
				t.Errorf("line %d: bad id %q", n+1, id)
				continue
			}
			if got, want := classes[k], name(names[i]); got != want {
				t.Errorf("line %d: class %d is %q, the comment says %q", n+1, k, got, want)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Errorf("only %d ids checked", checked)
	}
	// The ranges, by their ends.
	for k, want := range map[int]string{7: "cock", 24: "great_grey_owl", 80: "black_grouse", 100: "black_swan",
		127: "white_stork", 146: "albatross", 151: "Chihuahua", 268: "Mexican_hairless", 281: "tabby",
		285: "Egyptian_cat", 294: "brown_bear", 297: "sloth_bear"} {
		if classes[k] != want {
			t.Errorf("class %d is %q, want %q", k, classes[k], want)
		}
	}
}

// TestReadmeRulesExample parses the rules file shown in the README and in Rules' doc.
func TestReadmeRulesExample(t *testing.T) {
	doc := `version: 1
aggregate: sum        # how member probabilities combine: sum (softmax models) or max (sigmoid)
others: keep          # labels no rule mentions: keep (under their own name) or drop
rules:
  - tag: dog
    category: animal          # lr:hierarchicalSubject "autotag|animal|dog"
    ids: [151-268]            # class indices or ranges ...
  - tag: cat
    category: animal
    labels: [tabby, tiger_cat, Persian_cat, Siamese_cat, Egyptian_cat]   # ... or label names
    threshold: 0.2            # this tag's own minimum score
  - labels: [web_site, comic_book]
    priority: -1              # hidden: never reported, counts towards no tag
`
	r, err := ParseRules([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rules) != 3 || r.Rules[0].IDs[0] != (IDRange{151, 268}) || *r.Rules[1].Threshold != 0.2 || r.Rules[2].Priority != -1 {
		t.Errorf("parsed %+v", r)
	}
}

// TestRulesHostileDocuments feeds ParseRules and LoadRules documents built to exhaust
// the stack, the heap or the CPU; each must be refused with an error, quickly.
func TestRulesHostileDocuments(t *testing.T) {
	deepSeq := strings.Repeat("- ", MaxRulesBytes/2-8) + "x\n" // a block sequence nested ~500k deep
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'j'; i++ {
		p := string(i - 1)
		laughs += fmt.Sprintf("%c: &%c [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", i, i, p, p, p, p, p, p, p, p, p, p)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"deep block sequence", deepSeq, "depth"}, // the YAML library's own limit
		{"9000-deep block sequence", strings.Repeat("- ", 9000) + "x\n", "deeper than 32"},
		{"10 MB line", strings.Repeat("- ", 5<<20), "over the limit"},
		{"deep rules sequence", "rules:\n" + strings.Repeat("- ", 100) + "x\n", "deeper than 32"},
		{"deep flow sequence", "rules: " + strings.Repeat("[", 200000) + strings.Repeat("]", 200000), "depth"},
		{"deep flow mapping", "rules: " + strings.Repeat("{a: ", 5000) + "1" + strings.Repeat("}", 5000), "deeper than"},
		{"deep JSON", `{"rules":` + strings.Repeat("[", 400000) + strings.Repeat("]", 400000) + "}", "deeper than 32"},
		{"deep JSON object", `{"rules":[{"tag":` + strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000) + "}]}", "deeper than 32"},
		{"billion laughs", laughs + "rules: *j\n", "aliases expanded"},
		{"too big", "rules: []\n" + strings.Repeat("#", MaxRulesBytes), "over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}

	// LoadRules checks the size and the file type before reading.
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(deepSeq+strings.Repeat("#", 10<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRules(big); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("10 MB rules file: %v", err)
	}
	if _, err := LoadRules(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as rules file: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := LoadRules("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("/dev/zero as rules file: %v", err)
		}
	}
}

// TestRulesAnchors checks that ordinary YAML anchors and aliases still work.
func TestRulesAnchors(t *testing.T) {
	r, err := ParseRules([]byte("rules:\n  - tag: cat\n    category: &pets animal|pet\n    labels: [tabby]\n  - tag: dog\n    category: *pets\n    ids: [2]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Rules[1].Category != "animal|pet" {
		t.Errorf("alias gave %q", r.Rules[1].Category)
	}
}

// rulesSeeds are the documents the fuzzers start from.
func rulesSeeds() []string {
	return []string{
		string(defaultRulesYAML),
		"rules:\n  - tag: x\n    ids: [0-1, 2]\n    threshold: 0.5\n    priority: -1\n",
		"a:\n- b: [1, 'x']\n  c: \"d\"\n",
		`{"version":1,"aggregate":"max","others":"drop","rules":[{"tag":"t","labels":["a"],"ids":[3,"4-5"],"threshold":0.2}]}`,
		"rules: [{tag: x, labels: [a]}]\nx: &a [*a]\n",
		"- - - - [",
		"rules:\n  - tag: x\n    ids: [0-3, 0-3, 2, 1-2, 3-4]\n",
	}
}

// TestRulesRepeatedRangesCompileOnce: a rule that lists one id range again and again
// claimed every class of every copy, so a 1 MB rules file cost billions of steps on a
// large model. Ranges are merged first: each class is visited once.
func TestRulesRepeatedRangesCompileOnce(t *testing.T) {
	const n = 20000
	classes := make([]string, n)
	for i := range classes {
		classes[i] = fmt.Sprintf("c%d", i)
	}
	rg := fmt.Sprintf("%q,", fmt.Sprintf("0-%d", n-1))
	doc := `{"rules":[{"tag":"all","ids":[` + strings.Repeat(rg, (MaxRulesBytes-100)/len(rg)) + `7]}]}`
	r, err := ParseRules([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sel, err := NewSelector(classes, "sigmoid", r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("compiling %d copies of one range took %v", len(r.Rules[0].IDs), d)
	}
	if len(sel.rules.groups) != 1 || len(sel.rules.groups[0].members) != n {
		t.Fatalf("groups = %d, want one tag over all %d classes once each", len(sel.rules.groups), n)
	}
	probs := make([]float32, n)
	probs[n-1] = 0.9
	if got := sel.Select(probs, Selection{}); len(got) != 1 || got[0].Label != "all" || math.Abs(got[0].Score-0.9) > 1e-6 {
		t.Errorf("Select = %+v, want all 0.9", got)
	}
}

// FuzzParseRulesYAML checks that no YAML document panics, hangs or escapes the limits,
// and that what parses survives a JSON round trip.
func FuzzParseRulesYAML(f *testing.F) {
	for _, s := range rulesSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRules([]byte(s))
		if err != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal parsed rules: %v", err)
		}
		if _, err := ParseRules(b); err != nil {
			t.Fatalf("parsed rules do not parse back from JSON: %v\n%s", err, b)
		}
	})
}

// FuzzParseRulesJSON is FuzzParseRulesYAML for JSON documents.
func FuzzParseRulesJSON(f *testing.F) {
	for _, s := range rulesSeeds() {
		if r, err := ParseRules([]byte(s)); err == nil {
			b, _ := json.Marshal(r)
			f.Add(string(b))
		}
	}
	f.Add(`{"rules":[{"ids":[-1]}]}`)
	f.Add(`{"rules":[[[[[[`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRules([]byte("{" + s))
		if err != nil {
			return
		}
		if err := r.validate(); err != nil {
			t.Fatalf("ParseRules accepted rules that do not validate: %v", err)
		}
	})
}

// TestLoadRulesSource: the document returned is exactly the one parsed (read once),
// and a non-regular file is refused as LoadRules refuses it.
func TestLoadRulesSource(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rules.yaml")
	doc := []byte("rules:\n  - tag: pet\n    labels: [tabby, beagle]\n")
	if err := os.WriteFile(p, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	r, b, err := LoadRulesSource(p)
	if err != nil || string(b) != string(doc) || len(r.Rules) != 1 || r.Rules[0].Tag != "pet" {
		t.Fatalf("LoadRulesSource = %+v, %q, %v", r, b, err)
	}
	if _, _, err := LoadRulesSource(filepath.Dir(p)); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a folder as rules: %v", err)
	}
}
