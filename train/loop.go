package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/autotag/autotag/nn"
)

// Features is a cached feature set: K views of each of N images, pooled backbone
// features X laid out image-major ([N·K, Dim]: row i·K+k is view k of image i), and
// 0/1 labels Y ([N, Classes]).
type Features struct {
	X            []float32
	Y            []float32
	N, K         int
	Dim, Classes int
	// IDs are the images' content ids (sha256 prefixes) when known, for leakage
	// checks between training and validation sets.
	IDs []string
}

// Validate checks that the slices fit the stated sizes.
func (f *Features) Validate() error {
	if f == nil {
		return errors.New("train: nil feature set")
	}
	if f.N <= 0 || f.K <= 0 || f.Dim <= 0 || f.Classes <= 0 {
		return fmt.Errorf("train: feature set sizes N=%d K=%d Dim=%d Classes=%d", f.N, f.K, f.Dim, f.Classes)
	}
	if len(f.X) != f.N*f.K*f.Dim || len(f.Y) != f.N*f.Classes {
		return fmt.Errorf("train: feature set has %d features and %d labels, want %d and %d",
			len(f.X), len(f.Y), f.N*f.K*f.Dim, f.N*f.Classes)
	}
	return nil
}

// View returns the features of view k of every image ([N, Dim]).
func (f *Features) View(k int) []float32 {
	if f.K == 1 {
		return f.X
	}
	out := make([]float32, f.N*f.Dim)
	for i := 0; i < f.N; i++ {
		copy(out[i*f.Dim:(i+1)*f.Dim], f.X[(i*f.K+k)*f.Dim:(i*f.K+k+1)*f.Dim])
	}
	return out
}

// Config is the head-training recipe.
type Config struct {
	Head         HeadSpec
	Loss         Loss
	PosWeight    []float32 // per class, for wbce (nil: all ones)
	Epochs       int
	Batch        int
	LR, MinLR    float64
	WeightDecay  float64
	WarmupEpochs float64
	Seed         uint64
	// Patience stops training after this many epochs without a better validation
	// mAP (0: never stop early). The best epoch's weights are kept.
	Patience int
	// Sampler, if set, returns the image indices of one epoch (e.g. repeat-factor
	// sampling); it must be deterministic in (its seed, epoch). Default: a seeded
	// permutation of all images.
	Sampler func(epoch int) []int
	// SamplerName names Sampler in the run's fingerprint ("" for the default).
	SamplerName string
}

// DefaultConfig is the recipe used unless flags say otherwise: linear head, weighted
// BCE, 30 epochs of batch 64, AdamW lr 1e-3 and weight decay 1e-4, one warm-up epoch,
// early stopping after 8 epochs without progress.
func DefaultConfig() Config {
	l, _ := NewLoss("wbce")
	return Config{Loss: l, Epochs: 30, Batch: 64, LR: 1e-3, WeightDecay: 1e-4, WarmupEpochs: 1, Seed: 1, Patience: 8}
}

// EpochStats is one line of the training history.
type EpochStats struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	ValLoss   float64 `json:"val_loss"` // NaN without validation
	ValMAP    float64 `json:"val_map"`  // NaN without validation
	LR        float64 `json:"lr"`       // at the epoch's last step
}

// State is everything a Loop needs to continue: the weights, the optimizer, where in
// the schedule it is, the history, and the best weights so far. Checkpoints store it.
type State struct {
	Epoch     int // current epoch, 0-based (= epochs completed)
	EpochStep int // batches done in the current epoch
	Step      int // batches done overall
	LR        float64
	Loss      float32 // last batch loss
	// running sum of batch losses in the current epoch (weighted by batch size)
	EpochLossSum float64
	EpochSamples int
	History      []EpochStats
	BestMAP      float64
	BestEpoch    int
	BadEpochs    int
	Done         bool // training finished (epochs exhausted or stopped early)
	Head         *Head
	Best         *Head
	Opt          *AdamW
}

// Hook observes the loop. Any of its functions may be nil; an error stops training.
// Hooks run in order, so put evaluation before checkpointing.
type Hook struct {
	Name       string
	OnStep     func(l *Loop, s *State) error
	OnEpochEnd func(l *Loop, s *State) error
	OnEnd      func(l *Loop, s *State) error
}

// Loop trains a head on cached features, in the spirit of gomlx's train.Loop: a
// plain loop over batches with hooks for logging, evaluation, checkpoints and
// progress. Everything random is derived from (Seed, epoch), so a run resumed from
// a checkpoint ends with the same weights, bit for bit, as an uninterrupted one.
type Loop struct {
	Config Config
	Train  *Features
	Val    *Features // may be nil
	Hooks  []Hook
	State  *State
	graphs map[int]*stepGraph
}

// NewLoop prepares a loop with freshly initialised weights.
func NewLoop(cfg Config, train, val *Features) (*Loop, error) {
	if err := train.Validate(); err != nil {
		return nil, fmt.Errorf("train set: %w", err)
	}
	if val != nil {
		if err := val.Validate(); err != nil {
			return nil, fmt.Errorf("validation set: %w", err)
		}
		if val.Dim != train.Dim || val.Classes != train.Classes {
			return nil, fmt.Errorf("train: validation set is %d-d with %d classes, train set %d-d with %d", val.Dim, val.Classes, train.Dim, train.Classes)
		}
	}
	if cfg.Epochs <= 0 || cfg.Batch <= 0 || !(cfg.LR > 0) || math.IsInf(cfg.LR, 0) {
		return nil, fmt.Errorf("train: epochs (%d), batch (%d) and lr (%g) must be positive", cfg.Epochs, cfg.Batch, cfg.LR)
	}
	// A NaN or infinite rate would train a head of NaNs, and the recipe recorded
	// in the model could not be written.
	for _, v := range []struct {
		name string
		x    float64
	}{{"min lr", cfg.MinLR}, {"weight decay", cfg.WeightDecay}, {"warm-up epochs", cfg.WarmupEpochs}} {
		if math.IsNaN(v.x) || math.IsInf(v.x, 0) || v.x < 0 {
			return nil, fmt.Errorf("train: %s (%g) must be a finite number ≥ 0", v.name, v.x)
		}
	}
	if cfg.PosWeight != nil && len(cfg.PosWeight) != train.Classes {
		return nil, fmt.Errorf("train: %d pos_weight values for %d classes", len(cfg.PosWeight), train.Classes)
	}
	h := NewHead(cfg.Head, train.Dim, train.Classes, cfg.Seed)
	var sizes []int
	for l := range h.W {
		sizes = append(sizes, len(h.W[l]), len(h.B[l]))
	}
	st := &State{Head: h, Best: h.Clone(), Opt: NewAdamW(sizes, cfg.WeightDecay), BestMAP: math.Inf(-1), BestEpoch: -1}
	return &Loop{Config: cfg, Train: train, Val: val, State: st, graphs: map[int]*stepGraph{}}, nil
}

// StepsPerEpoch is the number of batches in one epoch.
func (l *Loop) StepsPerEpoch() int {
	n := len(l.epochOrder(0))
	return (n + l.Config.Batch - 1) / l.Config.Batch
}

// Schedule is the learning-rate schedule over the whole run.
func (l *Loop) Schedule() CosineSchedule {
	spe := l.StepsPerEpoch()
	return CosineSchedule{Base: l.Config.LR, Min: l.Config.MinLR,
		Warmup: int(math.Round(l.Config.WarmupEpochs * float64(spe))), Total: spe * l.Config.Epochs}
}

// epochOrder returns the image indices visited in epoch e.
func (l *Loop) epochOrder(e int) []int {
	if l.Config.Sampler != nil {
		return l.Config.Sampler(e)
	}
	rng := rand.New(rand.NewPCG(l.Config.Seed, uint64(e)+1))
	return rng.Perm(l.Train.N)
}

// epochViews returns, for each position of epoch e's order, which cached view to use.
func (l *Loop) epochViews(e, n int) []int {
	v := make([]int, n)
	if l.Train.K == 1 {
		return v
	}
	rng := rand.New(rand.NewPCG(l.Config.Seed^0x7669657773, uint64(e)+1)) // "views"
	for i := range v {
		v[i] = rng.IntN(l.Train.K)
	}
	return v
}

// graph returns the step graph for batch size b, building it on first use.
func (l *Loop) graph(b int) (*stepGraph, error) {
	if g, ok := l.graphs[b]; ok {
		return g, nil
	}
	g, err := newStepGraph(l.State.Head, l.Config.Loss, b)
	if err != nil {
		return nil, err
	}
	l.graphs[b] = g
	return g, nil
}

// Close releases the graphs.
func (l *Loop) Close() {
	for _, g := range l.graphs {
		g.close()
	}
	l.graphs = map[int]*stepGraph{}
}

// SetState replaces the state (after loading a checkpoint). The head's shape must
// match the configuration; graphs are rebuilt on the new weights.
func (l *Loop) SetState(s *State) error {
	want := NewHead(l.Config.Head, l.Train.Dim, l.Train.Classes, 0).dims()
	got := s.Head.dims()
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return fmt.Errorf("train: checkpoint head %v does not match configured %v", got, want)
	}
	l.Close()
	l.State = s
	return nil
}

// decayMask says which parameters get weight decay (weights, not biases).
func decayMask(n int) []bool {
	m := make([]bool, n)
	for i := 0; i < n; i += 2 {
		m[i] = true
	}
	return m
}

// Run trains until the epochs are exhausted, early stopping triggers, a hook fails
// or ctx is cancelled (then it returns ctx's error; the last checkpoint stays
// usable).
func (l *Loop) Run(ctx context.Context) (*State, error) {
	defer l.Close()
	s := l.State
	sched := l.Schedule()
	c := l.Train.Classes
	params := [][]float32{}
	for i := range s.Head.W {
		params = append(params, s.Head.W[i], s.Head.B[i])
	}
	mask := decayMask(len(params))
	for !s.Done && s.Epoch < l.Config.Epochs {
		order := l.epochOrder(s.Epoch)
		views := l.epochViews(s.Epoch, len(order))
		nb := (len(order) + l.Config.Batch - 1) / l.Config.Batch
		for s.EpochStep < nb {
			if err := ctx.Err(); err != nil {
				return s, err
			}
			lo := s.EpochStep * l.Config.Batch
			hi := min(lo+l.Config.Batch, len(order))
			g, err := l.graph(hi - lo)
			if err != nil {
				return s, err
			}
			x := g.xT.Data().([]float32)
			pos := g.posT.Data().([]float32)
			neg := g.negT.Data().([]float32)
			y := make([]float32, (hi-lo)*c)
			for j := lo; j < hi; j++ {
				img := order[j]
				row := img*l.Train.K + views[j]
				copy(x[(j-lo)*l.Train.Dim:], l.Train.X[row*l.Train.Dim:(row+1)*l.Train.Dim])
				copy(y[(j-lo)*c:], l.Train.Y[img*c:(img+1)*c])
			}
			l.Config.Loss.Coefficients(y, l.Config.PosWeight, c, pos, neg)
			loss, grads, err := g.run()
			if err != nil {
				return s, err
			}
			if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
				return s, fmt.Errorf("train: loss became %v at epoch %d step %d (lower --lr?)", loss, s.Epoch+1, s.EpochStep+1)
			}
			s.LR = sched.At(s.Step)
			s.Opt.Step(s.LR, params, grads, mask)
			s.Loss = loss
			s.EpochLossSum += float64(loss) * float64(hi-lo)
			s.EpochSamples += hi - lo
			s.Step++
			s.EpochStep++
			for _, h := range l.Hooks {
				if h.OnStep != nil {
					if err := h.OnStep(l, s); err != nil {
						return s, fmt.Errorf("train: hook %s: %w", h.Name, err)
					}
				}
			}
		}
		st := EpochStats{Epoch: s.Epoch + 1, TrainLoss: s.EpochLossSum / float64(max(1, s.EpochSamples)),
			ValLoss: math.NaN(), ValMAP: math.NaN(), LR: s.LR}
		if l.Val != nil {
			probs, logits := l.predict(s.Head, l.Val)
			st.ValLoss = l.Config.Loss.Value(logits, l.Val.Y, l.Config.PosWeight, c)
			st.ValMAP, _ = MeanAP(probs, l.Val.Y, c)
			if st.ValMAP > s.BestMAP {
				s.BestMAP, s.BestEpoch, s.BadEpochs = st.ValMAP, s.Epoch+1, 0
				s.Best = s.Head.Clone()
			} else {
				s.BadEpochs++
				if l.Config.Patience > 0 && s.BadEpochs >= l.Config.Patience {
					s.Done = true
				}
			}
		} else {
			s.Best, s.BestEpoch = s.Head.Clone(), s.Epoch+1
		}
		s.History = append(s.History, st)
		// the epoch is complete: the state now points at the next one's first batch,
		// which is what a checkpoint written by a hook must record
		s.Epoch++
		s.EpochStep, s.EpochLossSum, s.EpochSamples = 0, 0, 0
		if s.Epoch >= l.Config.Epochs {
			s.Done = true
		}
		for _, h := range l.Hooks {
			if h.OnEpochEnd != nil {
				if err := h.OnEpochEnd(l, s); err != nil {
					return s, fmt.Errorf("train: hook %s: %w", h.Name, err)
				}
			}
		}
	}
	s.Done = true
	for _, h := range l.Hooks {
		if h.OnEnd != nil {
			if err := h.OnEnd(l, s); err != nil {
				return s, fmt.Errorf("train: hook %s: %w", h.Name, err)
			}
		}
	}
	return s, nil
}

// predict returns the probabilities and logits of head h on view 0 of f.
func (l *Loop) predict(h *Head, f *Features) (probs, logits []float32) {
	logits = h.Forward(f.View(0), f.N)
	probs = slices.Clone(logits)
	nn.Sigmoid(probs, h.Out)
	return probs, logits
}
