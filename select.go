package autotag

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Tag is one label of an image with its score in [0,1].
type Tag struct {
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// Selection chooses which tags Select reports. The zero value means the Tagger's
// own settings (from the options given to Open).
type Selection struct {
	// Threshold, when non-nil, is the minimum score of every tag, overriding rule and
	// model thresholds. Nil: the Tagger's WithThreshold if given, else each tag's
	// rule threshold, else the model file's per-class threshold, else
	// DefaultSoftmaxThreshold or DefaultSigmoidThreshold.
	Threshold *float64
	// TopK caps the number of tags: 0 means the Tagger's WithTopK, a negative value
	// means no limit.
	TopK int
}

// Selector turns per-class probabilities into tags: label rules group and rename
// classes, thresholds filter, top-k keeps the best. A Tagger has one for its model;
// NewSelector makes one for probabilities from elsewhere. It is safe for concurrent
// use.
type Selector struct {
	classes          []string
	rules            *compiledRules
	defaultThreshold float64
}

// NewSelector prepares label rules (nil: none) for a model with the given classes,
// activation ("softmax" or "sigmoid") and optional per-class thresholds.
func NewSelector(classes []string, activation string, rules *Rules, thresholds []float32) (*Selector, error) {
	if activation != "softmax" && activation != "sigmoid" {
		return nil, fmt.Errorf("autotag: activation %q: want softmax or sigmoid", activation)
	}
	if len(thresholds) != 0 && len(thresholds) != len(classes) {
		return nil, fmt.Errorf("autotag: %d thresholds for %d classes", len(thresholds), len(classes))
	}
	cr, err := compileRules(rules, classes, activation, thresholds)
	if err != nil {
		return nil, fmt.Errorf("autotag: label rules: %w", err)
	}
	s := &Selector{classes: slices.Clone(classes), rules: cr, defaultThreshold: DefaultSigmoidThreshold}
	if activation == "softmax" {
		s.defaultThreshold = DefaultSoftmaxThreshold
	}
	return s, nil
}

// Select returns the tags of one image's probabilities (one per class, in class
// order), highest score first (ties: higher rule priority first). A nil
// sel.Threshold means each tag's rule threshold, else the model's per-class
// threshold, else DefaultSoftmaxThreshold or DefaultSigmoidThreshold; sel.TopK ≤ 0
// means no limit. It returns nil when probs does not have one value per class or
// holds a NaN or an infinity.
func (s *Selector) Select(probs []float32, sel Selection) []Tag {
	// Probabilities with a NaN or an infinity (not from a Tagger, which refuses
	// them) select nothing: NaN passes no comparison and rules would clamp +Inf to 1.
	if len(probs) != len(s.classes) || nonFinite(probs) >= 0 {
		return nil
	}
	type cand struct {
		Tag
		priority int
	}
	var cands []cand
	for gi := range s.rules.groups {
		g := &s.rules.groups[gi]
		score := s.rules.score(g, probs)
		th := s.defaultThreshold
		switch {
		case sel.Threshold != nil:
			th = *sel.Threshold
		case !math.IsNaN(g.threshold):
			th = g.threshold
		}
		if score <= 0 || score < th {
			continue
		}
		cands = append(cands, cand{Tag{g.tag, score}, g.priority})
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].Score != cands[j].Score {
			return cands[i].Score > cands[j].Score
		}
		return cands[i].priority > cands[j].priority
	})
	if sel.TopK > 0 && len(cands) > sel.TopK {
		cands = cands[:sel.TopK]
	}
	out := make([]Tag, len(cands))
	for i, c := range cands {
		out[i] = c.Tag
	}
	return out
}

// Category returns the category a label rule gives tag ("animal" for "dog" under
// the default rules), or "" when it has none.
func (s *Selector) Category(tag string) string { return s.rules.category(tag) }

// Select turns one image's per-class probabilities (as Probabilities returns them)
// into tags with the Tagger's rules; zero fields of sel take the Tagger's options
// (WithThreshold, WithTopK), and see Selector.Select for the rest.
func (t *Tagger) Select(probs []float32, sel Selection) []Tag {
	if sel.Threshold == nil {
		sel.Threshold = t.opts.threshold
	}
	if sel.TopK == 0 {
		sel.TopK = t.opts.topK
	}
	return t.selector.Select(probs, sel)
}

// Category returns the category a label rule gives tag, or "" (see Selector.Category).
func (t *Tagger) Category(tag string) string { return t.selector.Category(tag) }
