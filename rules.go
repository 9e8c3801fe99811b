package autotag

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/autotag/autotag/internal/safedoc"
)

// Rules map a model's labels onto the tags people want, in the spirit of photo
// managers' rule files (PhotoPrism's rules.yml, digiKam's tag rules): many fine-grained
// model labels become one friendly tag with a category ("Chihuahua", "beagle", … →
// "dog" in "animal"), a tag can have its own threshold, and a negative priority hides
// a label. Rules files are YAML or JSON (see ParseRules for the limits on both);
// DefaultRules are the embedded rules for 1000-class ImageNet models.
//
// A rules file looks like:
//
//	version: 1
//	aggregate: sum        # how member probabilities combine: sum (default for softmax) or max
//	others: keep          # labels no rule mentions: keep (as they are) or drop
//	rules:
//	  - tag: dog
//	    category: animal
//	    ids: [151-268]    # class indices or index ranges
//	  - tag: cat
//	    category: animal
//	    labels: [tabby, tiger_cat, Persian_cat, Siamese_cat, Egyptian_cat]
//	    threshold: 0.2
//	  - labels: [web_site]
//	    priority: -1      # hidden: never reported, and counts towards no tag
type Rules struct {
	// Version of the rules format; 0 or 1.
	Version int `json:"version,omitempty" yaml:"version"`
	// Aggregate says how the probabilities of a tag's member labels combine into the
	// tag's score: "sum" (clamped to 1; the probability of "any of them" when the
	// labels are mutually exclusive, as with a softmax model) or "max" (the best
	// member; right for independent sigmoid outputs). Empty: sum for softmax models,
	// max for sigmoid models.
	Aggregate string `json:"aggregate,omitempty" yaml:"aggregate"`
	// Others says what happens to model labels that no rule mentions: "keep" (the
	// default: they are reported under their own name) or "drop".
	Others string `json:"others,omitempty" yaml:"others"`
	// Rules in order; a model label may be claimed by only one rule.
	Rules []Rule `json:"rules" yaml:"rules"`
}

// Rule is one entry of a rules file.
type Rule struct {
	// Tag is the reported label. Empty means each selected model label keeps its own
	// name (useful to give single labels a threshold, category or priority). Rules
	// with the same Tag are merged.
	Tag string `json:"tag,omitempty" yaml:"tag"`
	// Category places the tag in a hierarchy ("animal", or "animal|pet" for deeper
	// levels); XMP sidecars write it as lr:hierarchicalSubject "autotag|animal|dog".
	Category string `json:"category,omitempty" yaml:"category"`
	// Labels selects model labels by name. Matching ignores case and treats '_' and
	// ' ' alike; a name that several classes share selects them all.
	Labels []string `json:"labels,omitempty" yaml:"labels"`
	// IDs selects model labels by class index: a number (21) or an inclusive range
	// ("151-268").
	IDs []IDRange `json:"ids,omitempty" yaml:"ids"`
	// Threshold, when set, is the minimum score for this tag (an explicit threshold
	// given by the caller still overrides it).
	Threshold *float64 `json:"threshold,omitempty" yaml:"threshold"`
	// Priority orders tags of equal score (higher first); a negative priority hides
	// the selected labels: they are never reported and count towards no tag.
	Priority int `json:"priority,omitempty" yaml:"priority"`
}

// IDRange is an inclusive range of class indices, written as a number (21) or a
// string "151-268" in rules files.
type IDRange struct{ First, Last int }

// UnmarshalJSON reads 21, "21" or "151-268".
func (r *IDRange) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		return r.setIndex(n)
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("class ids: want a number or a range like \"151-268\", got %s", b)
	}
	return r.setRange(s)
}

// UnmarshalYAML reads 21, "21" or 151-268 (a plain scalar that YAML reads as a
// string), naming the line of a bad value.
func (r *IDRange) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: class ids: want a number or a range like 151-268", n.Line)
	}
	var err error
	switch n.Tag {
	case "!!int", "!!float":
		var f float64
		if err = n.Decode(&f); err == nil {
			err = r.setIndex(f)
		}
	default:
		err = r.setRange(n.Value)
	}
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func (r *IDRange) setIndex(n float64) error {
	if n != math.Trunc(n) || n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("class index %v is not a non-negative integer", n)
	}
	*r = IDRange{int(n), int(n)}
	return nil
}

func (r *IDRange) setRange(s string) error {
	first, last, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(first))
	c := a
	var err2 error
	if isRange {
		c, err2 = strconv.Atoi(strings.TrimSpace(last))
	}
	if err1 != nil || err2 != nil || a < 0 || c < a {
		return fmt.Errorf("class ids: bad range %q (want N or N-M with N <= M)", truncateRunes(s, 40))
	}
	*r = IDRange{a, c}
	return nil
}

// truncateRunes shortens s for an error message.
func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// MarshalJSON writes a single index as a number and a range as "N-M".
func (r IDRange) MarshalJSON() ([]byte, error) {
	if r.First == r.Last {
		return json.Marshal(r.First)
	}
	return json.Marshal(fmt.Sprintf("%d-%d", r.First, r.Last))
}

//go:embed rules/imagenet-coco.yaml
var defaultRulesYAML []byte

// DefaultRulesSource is the text of the embedded default rules (YAML), for users who
// want a starting point for their own file (`autotag tag --print-rules`).
func DefaultRulesSource() []byte { return bytes.Clone(defaultRulesYAML) }

// DefaultRules returns the embedded rules for 1000-class ImageNet models: they map
// ImageNet's fine-grained classes onto every COCO category ImageNet can express (118
// dog breeds → dog, five cats → cat, 59 birds → bird, sorrel → horse, airliner and
// warplane → airplane, …; see rules/imagenet-coco.yaml) and keep the other labels.
// Open applies them by default to a 1000-class softmax model.
func DefaultRules() *Rules {
	r, err := ParseRules(defaultRulesYAML)
	if err != nil {
		panic("autotag: embedded default rules are invalid: " + err.Error())
	}
	return r
}

// Limits on a rules document, YAML or JSON. A real rules file is a few kilobytes and
// nests four levels deep (rules → rule → labels → label); the limits leave ample room
// and make a hostile file (a deeply nested line, a "billion laughs" of aliases, a
// huge file) a clear error rather than a crash. They are fixed: no rules file needs
// more.
const (
	MaxRulesBytes = 1 << 20 // largest rules file or document, bytes
	MaxRulesDepth = 32      // deepest nesting of sequences and mappings
	MaxRulesNodes = 1 << 18 // most YAML nodes, aliases counted as what they expand to
)

var rulesLimits = safedoc.Limits{MaxBytes: MaxRulesBytes, MaxDepth: MaxRulesDepth, MaxNodes: MaxRulesNodes}

// LoadRules reads a rules file (YAML or JSON). It must be a regular file of at most
// MaxRulesBytes, checked before reading.
func LoadRules(path string) (*Rules, error) {
	r, _, err := LoadRulesSource(path)
	return r, err
}

// LoadRulesSource is LoadRules that also returns the document as it was read and
// parsed, for callers that fingerprint the rules: the file is read once, so what is
// fingerprinted is what was checked, and no second, unbounded read is needed.
func LoadRulesSource(path string) (*Rules, []byte, error) {
	b, err := safedoc.ReadFile(path, MaxRulesBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("reading rules: %w", err)
	}
	r, err := ParseRules(b)
	if err != nil {
		return nil, nil, fmt.Errorf("rules file %s: %w", path, err)
	}
	return r, b, nil
}

// ParseRules parses a rules document: JSON when it starts with '{', else YAML (1.2,
// one document; anchors and aliases are allowed). Errors name the line where the YAML
// library or the JSON decoder gives one. Unknown keys are errors, so typos do not pass
// silently. The document may be at most MaxRulesBytes long and nest at most
// MaxRulesDepth levels; YAML aliases may expand it to at most MaxRulesNodes nodes.
func ParseRules(b []byte) (*Rules, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if err := safedoc.CheckSize(b, rulesLimits); err != nil {
		return nil, fmt.Errorf("parsing rules: %w", err)
	}
	var r Rules
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		if err := safedoc.CheckJSONDepth(b, MaxRulesDepth); err != nil {
			return nil, fmt.Errorf("parsing rules: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("parsing rules: %w", jsonErrorLine(b, dec, err))
		}
		if dec.More() {
			return nil, fmt.Errorf("parsing rules: unexpected content after the JSON object")
		}
	} else {
		// Check the whole tree (depth, aliases) before decoding it into Rules.
		if _, err := safedoc.ParseYAML(b, rulesLimits); err != nil {
			if errors.Is(err, safedoc.ErrEmpty) {
				return nil, fmt.Errorf("empty rules document")
			}
			return nil, fmt.Errorf("parsing rules: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("parsing rules: %w", safedoc.Tidy(err))
		}
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// jsonErrorLine prefixes a JSON decoding error with the line it happened on, when the
// decoder says where.
func jsonErrorLine(b []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off <= 0 || off > int64(len(b)) {
		return err
	}
	return fmt.Errorf("line %d: %w", 1+bytes.Count(b[:off], []byte("\n")), err)
}

// validate checks what can be checked without a model.
func (r *Rules) validate() error {
	if r.Version > 1 {
		return fmt.Errorf("rules version %d is newer than this autotag understands (1)", r.Version)
	}
	switch r.Aggregate {
	case "", "sum", "max":
	default:
		return fmt.Errorf("aggregate %q: want sum or max", r.Aggregate)
	}
	switch r.Others {
	case "", "keep", "drop":
	default:
		return fmt.Errorf("others %q: want keep or drop", r.Others)
	}
	for i, rule := range r.Rules {
		if len(rule.Labels) == 0 && len(rule.IDs) == 0 {
			return fmt.Errorf("rule %d (%s): selects no labels (give labels or ids)", i+1, rule.describe())
		}
		if t := rule.Threshold; t != nil && (math.IsNaN(*t) || *t < 0 || *t > 1) {
			return fmt.Errorf("rule %d (%s): threshold %v is outside [0,1]", i+1, rule.describe(), *t)
		}
	}
	return nil
}

func (r Rule) describe() string {
	switch {
	case r.Tag != "":
		return "tag " + strconv.Quote(r.Tag)
	case len(r.Labels) > 0:
		return "labels " + strings.Join(r.Labels, ",")
	}
	return "untitled"
}

// normLabel is the form label names are matched in.
func normLabel(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(s, "_", " ")), " "))
}

// labelGroup is one reportable tag after compiling rules against a model's classes.
type labelGroup struct {
	tag       string
	category  string
	members   []int   // class indices whose probabilities make up the score
	threshold float64 // NaN: none of its own
	priority  int
}

// compiledRules are Rules resolved against one model's classes.
type compiledRules struct {
	groups []labelGroup
	max    bool           // aggregate with max instead of a clamped sum
	byTag  map[string]int // tag → index in groups
}

// compileRules resolves r (nil: no rules) against classes. Model thresholds apply to
// groups of one label without a threshold of their own.
func compileRules(r *Rules, classes []string, activation string, modelThresholds []float32) (*compiledRules, error) {
	cr := &compiledRules{byTag: map[string]int{}, max: activation == "sigmoid"}
	modelThreshold := func(i int) float64 {
		if i < len(modelThresholds) {
			return float64(modelThresholds[i])
		}
		return math.NaN()
	}
	add := func(g labelGroup) {
		if j, ok := cr.byTag[g.tag]; ok {
			// Two classes may share a name (ImageNet has two "crane"s); merge them.
			cr.groups[j].members = append(cr.groups[j].members, g.members...)
			cr.groups[j].threshold = math.NaN()
			return
		}
		cr.byTag[g.tag] = len(cr.groups)
		cr.groups = append(cr.groups, g)
	}
	if r == nil {
		for i, c := range classes {
			add(labelGroup{tag: c, members: []int{i}, threshold: modelThreshold(i)})
		}
		return cr, nil
	}
	switch r.Aggregate {
	case "sum":
		cr.max = false
	case "max":
		cr.max = true
	}
	byName := map[string][]int{}
	for i, c := range classes {
		byName[normLabel(c)] = append(byName[normLabel(c)], i)
	}
	owner := make([]int, len(classes)) // rule index+1 that claimed each class
	type pending struct {
		rule    Rule
		members []int
	}
	var ruled []pending
	for ri, rule := range r.Rules {
		var members []int
		claim := func(i int) error {
			if owner[i] != 0 && owner[i] != ri+1 {
				return fmt.Errorf("rule %d (%s): label %d %q is already claimed by rule %d (%s)",
					ri+1, rule.describe(), i, classes[i], owner[i], r.Rules[owner[i]-1].describe())
			}
			if owner[i] == 0 {
				members = append(members, i)
			}
			owner[i] = ri + 1
			return nil
		}
		for _, name := range rule.Labels {
			idx, ok := byName[normLabel(name)]
			if !ok {
				return nil, fmt.Errorf("rule %d (%s): the model has no label %q", ri+1, rule.describe(), name)
			}
			for _, i := range idx {
				if err := claim(i); err != nil {
					return nil, err
				}
			}
		}
		for _, rg := range rule.IDs {
			if rg.Last >= len(classes) {
				return nil, fmt.Errorf("rule %d (%s): class index %d is out of range (the model has %d classes)",
					ri+1, rule.describe(), rg.Last, len(classes))
			}
		}
		for _, rg := range mergeRanges(rule.IDs) {
			for i := rg.First; i <= rg.Last; i++ {
				if err := claim(i); err != nil {
					return nil, err
				}
			}
		}
		if rule.Priority < 0 {
			continue // hidden: claimed, so neither reported nor kept as "others"
		}
		ruled = append(ruled, pending{rule, members})
	}
	// Groups appear in class order of their first member, so output is stable.
	type entry struct {
		first int
		g     labelGroup
	}
	var entries []entry
	for _, p := range ruled {
		th := math.NaN()
		if p.rule.Threshold != nil {
			th = *p.rule.Threshold
		}
		if p.rule.Tag == "" {
			for _, i := range p.members {
				t := th
				if math.IsNaN(t) {
					t = modelThreshold(i)
				}
				entries = append(entries, entry{i, labelGroup{tag: classes[i], category: p.rule.Category,
					members: []int{i}, threshold: t, priority: p.rule.Priority}})
			}
			continue
		}
		if len(p.members) == 1 && math.IsNaN(th) {
			th = modelThreshold(p.members[0])
		}
		entries = append(entries, entry{p.members[0], labelGroup{tag: p.rule.Tag, category: p.rule.Category,
			members: p.members, threshold: th, priority: p.rule.Priority}})
	}
	if r.Others != "drop" {
		for i, c := range classes {
			if owner[i] == 0 {
				entries = append(entries, entry{i, labelGroup{tag: c, members: []int{i}, threshold: modelThreshold(i)}})
			}
		}
	}
	sort.SliceStable(entries, func(a, b int) bool { return entries[a].first < entries[b].first })
	for _, e := range entries {
		if j, ok := cr.byTag[e.g.tag]; ok {
			g := &cr.groups[j]
			g.members = append(g.members, e.g.members...)
			if g.category == "" {
				g.category = e.g.category
			}
			if math.IsNaN(g.threshold) {
				g.threshold = e.g.threshold
			}
			continue
		}
		cr.byTag[e.g.tag] = len(cr.groups)
		cr.groups = append(cr.groups, e.g)
	}
	return cr, nil
}

// mergeRanges returns ids sorted and with overlapping or touching ranges joined, so
// that claiming them visits each class once however often a rules file repeats a
// range (a 1 MB file can list [0-999] a hundred thousand times).
func mergeRanges(ids []IDRange) []IDRange {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b IDRange) int { return cmp.Compare(a.First, b.First) })
	merged := out[:0]
	for _, rg := range out {
		if n := len(merged); n > 0 && rg.First <= merged[n-1].Last+1 {
			merged[n-1].Last = max(merged[n-1].Last, rg.Last)
			continue
		}
		merged = append(merged, rg)
	}
	return merged
}

// score combines the probabilities of g's members.
func (cr *compiledRules) score(g *labelGroup, probs []float32) float64 {
	var s float64
	for _, i := range g.members {
		p := float64(probs[i])
		if cr.max {
			s = math.Max(s, p)
		} else {
			s += p
		}
	}
	return math.Min(s, 1)
}

// category returns the category of tag ("" when it has none or is unknown).
func (cr *compiledRules) category(tag string) string {
	if j, ok := cr.byTag[tag]; ok {
		return cr.groups[j].category
	}
	return ""
}
