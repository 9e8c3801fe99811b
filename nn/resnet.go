package nn

import (
	"fmt"
	"sort"
	"strings"

	"gorgonia.org/tensor"

	"github.com/autotag/autotag/nn/arch"
)

// FeatureDim is the width of ResNet50's pooled features (the input of fc).
const FeatureDim = arch.FeatureDim

// ResNet50 is the 50-layer residual network of He et al. 2015 with torchvision's
// parameter names: conv1/bn1 (the 7x7 stem), layer1..layer4 of Bottleneck blocks and
// the fc classifier. Declare it with NewResNet50, give it weights with Bind, then run
// it through one Runner per batch size and goroutine.
type ResNet50 struct {
	Config Config
	// Topology is the network's layout, which every graph built from this model walks.
	Topology *arch.ResNet
	Conv1    *Conv2D
	BN1      *BatchNorm
	Layers   [4][]*Bottleneck
	FC       *Linear

	// after Bind: BN folded, shared read-only by all runners
	stem   *foldedConv
	blocks [4][]*foldedBottleneck
	// cfgErr is an invalid Config, reported by Bind (NewResNet50 has no error result)
	cfgErr error
}

// NewResNet50 declares an unbound ResNet50 for cfg (zero fields take the layout's
// defaults: eps 1e-3 / 1e-5, 1000 classes); call Bind next. An invalid config (say an
// unknown layout read from a model file) is reported by Bind, and the model is laid
// out as KerasV1 meanwhile.
func NewResNet50(cfg Config) *ResNet50 {
	cfg = cfg.withDefaults()
	cfgErr := cfg.validate()
	if cfgErr != nil {
		cfg = Config{Layout: KerasV1}.withDefaults()
	}
	top, err := arch.ResNet50(cfg.Layout, cfg.NumClasses)
	if err != nil { // cfg.validate and arch agree: a Config that validates lays out
		panic(err)
	}
	m := &ResNet50{
		cfgErr:   cfgErr,
		Config:   cfg,
		Topology: top,
		FC:       newLinear("fc", FeatureDim, cfg.NumClasses),
	}
	m.Conv1, m.BN1 = newConvBN(&top.Stem, cfg.BNEps)
	for l, st := range top.Stages {
		for b := range st.Blocks {
			m.Layers[l] = append(m.Layers[l], newBottleneck(&st.Blocks[b], cfg.BNEps))
		}
	}
	return m
}

// slots lists every tensor the model binds, in state_dict order.
func (m *ResNet50) slots() []slot {
	s := append(m.Conv1.slots(), m.BN1.slots()...)
	for _, layer := range m.Layers {
		for _, b := range layer {
			s = append(s, b.slots()...)
		}
	}
	return append(s, m.FC.slots()...)
}

// ParamNames lists the names of all tensors Bind expects, in state_dict order.
func (m *ResNet50) ParamNames() []string {
	var names []string
	for _, s := range m.slots() {
		names = append(names, s.name)
	}
	return names
}

// Bind gives the model its weights, strictly: every expected tensor must be present,
// float32 and of the right shape, and no other tensor may be; otherwise the error names
// every offender at once. It then folds each batch norm into its convolution. The
// tensors are kept (not copied) and must not change afterwards.
func (m *ResNet50) Bind(params map[string]*tensor.Dense) error {
	if m.cfgErr != nil {
		return m.cfgErr
	}
	var missing, wrong, extra []string
	want := map[string]bool{}
	for _, s := range m.slots() {
		want[s.name] = true
		t, ok := params[s.name]
		switch {
		case !ok || t == nil:
			missing = append(missing, s.name)
		case t.Dtype() != tensor.Float32:
			wrong = append(wrong, fmt.Sprintf("%s (dtype %v, want float32)", s.name, t.Dtype()))
		case !t.Shape().Eq(s.shape):
			wrong = append(wrong, fmt.Sprintf("%s (shape %v, want %v)", s.name, t.Shape(), s.shape))
		}
	}
	for name := range params {
		if !want[name] {
			extra = append(extra, name)
		}
	}
	if len(missing)+len(wrong)+len(extra) > 0 {
		sort.Strings(extra)
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("%d missing: %s", len(missing), strings.Join(missing, ", ")))
		}
		if len(wrong) > 0 {
			parts = append(parts, fmt.Sprintf("%d wrong: %s", len(wrong), strings.Join(wrong, ", ")))
		}
		if len(extra) > 0 {
			parts = append(parts, fmt.Sprintf("%d unexpected: %s", len(extra), strings.Join(extra, ", ")))
		}
		return fmt.Errorf("nn: bind %s ResNet50: %s", m.Config.Layout, strings.Join(parts, "; "))
	}
	for _, s := range m.slots() {
		*s.dst = params[s.name]
	}
	return m.fold()
}

// fold builds the BN-folded convolutions the runners use.
func (m *ResNet50) fold() error {
	wino := !m.Config.Engine.DisableWinograd
	stem, err := foldBatchNorm(m.Conv1, m.BN1, wino)
	if err != nil {
		return err
	}
	var blocks [4][]*foldedBottleneck
	for l, layer := range m.Layers {
		for _, b := range layer {
			f, err := b.fold(wino)
			if err != nil {
				return err
			}
			blocks[l] = append(blocks[l], f)
		}
	}
	m.stem, m.blocks = stem, blocks
	return nil
}

// Bound reports whether Bind has succeeded.
func (m *ResNet50) Bound() bool { return m.stem != nil }
