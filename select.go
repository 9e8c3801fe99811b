package autotag

import (
	"math"
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

// Select turns one image's per-class probabilities (as Probabilities returns them,
// in the model's class order) into tags: label rules group and rename classes,
// thresholds filter, and the best TopK remain, highest score first (ties: higher
// rule priority, then label order). It returns nil when probs does not have one
// value per class.
func (t *Tagger) Select(probs []float32, sel Selection) []Tag {
	if len(probs) != len(t.info.Classes) {
		return nil
	}
	explicit := sel.Threshold
	if explicit == nil {
		explicit = t.opts.threshold
	}
	topK := sel.TopK
	if topK == 0 {
		topK = t.opts.topK
	}
	type cand struct {
		Tag
		priority int
	}
	var cands []cand
	for gi := range t.rules.groups {
		g := &t.rules.groups[gi]
		s := t.rules.score(g, probs)
		th := t.defaultThreshold
		switch {
		case explicit != nil:
			th = *explicit
		case !math.IsNaN(g.threshold):
			th = g.threshold
		}
		if s <= 0 || s < th {
			continue
		}
		cands = append(cands, cand{Tag{g.tag, s}, g.priority})
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].Score != cands[j].Score {
			return cands[i].Score > cands[j].Score
		}
		return cands[i].priority > cands[j].priority
	})
	if topK > 0 && len(cands) > topK {
		cands = cands[:topK]
	}
	out := make([]Tag, len(cands))
	for i, c := range cands {
		out[i] = c.Tag
	}
	return out
}

// Category returns the category a label rule gives tag ("animal" for "dog" under
// the default rules), or "" when it has none.
func (t *Tagger) Category(tag string) string { return t.rules.category(tag) }
