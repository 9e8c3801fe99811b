package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/autotag/autotag/internal/atomicfile"
)

// Checkpoint files. Layout (little endian):
//
//	"ATCKPT01"                       8-byte magic + version
//	uint32 n, then n bytes of JSON   the header: positions, history, sizes
//	float32 arrays                   head, best head, optimizer m and v, in header order
//	32 bytes                         sha256 of everything before
//
// Files are written to a temporary name in the same directory, fsynced and renamed
// (then the directory is fsynced), so a crash leaves either the old set or the new
// file complete; the checksum catches anything else (a torn copy, a bad disk). The
// newest file that verifies wins on resume.

const ckptMagic = "ATCKPT01"

// ckptHeader is the JSON part of a checkpoint.
type ckptHeader struct {
	Fingerprint  string       `json:"fingerprint"`
	Head         string       `json:"head"`
	In           int          `json:"in"`
	Out          int          `json:"out"`
	Epoch        int          `json:"epoch"`
	EpochStep    int          `json:"epoch_step"`
	Step         int          `json:"step"`
	LRBits       uint64       `json:"lr_bits"`
	Loss         float32      `json:"loss"`
	EpochLossSum uint64       `json:"epoch_loss_sum_bits"`
	EpochSamples int          `json:"epoch_samples"`
	History      []EpochStats `json:"history"`
	BestMAPBits  uint64       `json:"best_map_bits"`
	BestEpoch    int          `json:"best_epoch"`
	BadEpochs    int          `json:"bad_epochs"`
	Done         bool         `json:"done"`
	AdamT        int          `json:"adam_t"`
	AdamBeta1    float64      `json:"adam_beta1"`
	AdamBeta2    float64      `json:"adam_beta2"`
	AdamEps      float64      `json:"adam_eps"`
	AdamWD       float64      `json:"adam_wd"`
	Arrays       []int        `json:"arrays"` // lengths of the float32 arrays that follow
}

// MarshalJSON writes NaN losses and mAPs (no validation set) as null.
func (e EpochStats) MarshalJSON() ([]byte, error) {
	f := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Epoch     int      `json:"epoch"`
		TrainLoss *float64 `json:"train_loss"`
		ValLoss   *float64 `json:"val_loss"`
		ValMAP    *float64 `json:"val_map"`
		LR        *float64 `json:"lr"`
	}{e.Epoch, f(e.TrainLoss), f(e.ValLoss), f(e.ValMAP), f(e.LR)})
}

// UnmarshalJSON reads what MarshalJSON writes (null → NaN).
func (e *EpochStats) UnmarshalJSON(b []byte) error {
	var v struct {
		Epoch     int      `json:"epoch"`
		TrainLoss *float64 `json:"train_loss"`
		ValLoss   *float64 `json:"val_loss"`
		ValMAP    *float64 `json:"val_map"`
		LR        *float64 `json:"lr"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	g := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*e = EpochStats{Epoch: v.Epoch, TrainLoss: g(v.TrainLoss), ValLoss: g(v.ValLoss), ValMAP: g(v.ValMAP), LR: g(v.LR)}
	return nil
}

// EncodeCheckpoint serialises s with the run's fingerprint.
func EncodeCheckpoint(s *State, fingerprint string) ([]byte, error) {
	h := ckptHeader{Fingerprint: fingerprint, Head: s.Head.Spec.String(), In: s.Head.In, Out: s.Head.Out,
		Epoch: s.Epoch, EpochStep: s.EpochStep, Step: s.Step, LRBits: math.Float64bits(s.LR), Loss: s.Loss,
		EpochLossSum: math.Float64bits(s.EpochLossSum), EpochSamples: s.EpochSamples, History: s.History,
		BestMAPBits: math.Float64bits(s.BestMAP), BestEpoch: s.BestEpoch, BadEpochs: s.BadEpochs, Done: s.Done,
		AdamT: s.Opt.T, AdamBeta1: s.Opt.Beta1, AdamBeta2: s.Opt.Beta2, AdamEps: s.Opt.Eps, AdamWD: s.Opt.WeightDecay}
	arrays := stateArrays(s)
	for _, a := range arrays {
		h.Arrays = append(h.Arrays, len(a))
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint header: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(ckptMagic)
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(hj)))
	buf.Write(hj)
	for _, a := range arrays {
		_ = binary.Write(&buf, binary.LittleEndian, a)
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes(), nil
}

// stateArrays lists the float32 slices of s in checkpoint order.
func stateArrays(s *State) [][]float32 {
	var out [][]float32
	for _, h := range []*Head{s.Head, s.Best} {
		for l := range h.W {
			out = append(out, h.W[l], h.B[l])
		}
	}
	out = append(out, s.Opt.M...)
	return append(out, s.Opt.V...)
}

// ErrCheckpointCorrupt reports a checkpoint whose checksum or structure is wrong.
var ErrCheckpointCorrupt = errors.New("checkpoint corrupt")

// DecodeCheckpoint parses and verifies a checkpoint, returning its state and
// fingerprint.
func DecodeCheckpoint(b []byte) (*State, string, error) {
	if len(b) < len(ckptMagic)+4+sha256.Size || string(b[:len(ckptMagic)]) != ckptMagic {
		return nil, "", fmt.Errorf("train: not a checkpoint (bad magic or too short): %w", ErrCheckpointCorrupt)
	}
	body, tail := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], tail) {
		return nil, "", fmt.Errorf("train: checkpoint checksum mismatch: %w", ErrCheckpointCorrupt)
	}
	r := bytes.NewReader(body[len(ckptMagic):])
	var n uint32
	_ = binary.Read(r, binary.LittleEndian, &n)
	if int64(n) > int64(r.Len()) {
		return nil, "", fmt.Errorf("train: checkpoint header length %d: %w", n, ErrCheckpointCorrupt)
	}
	hj := make([]byte, n)
	_, _ = io.ReadFull(r, hj)
	var h ckptHeader
	if err := json.Unmarshal(hj, &h); err != nil {
		return nil, "", fmt.Errorf("train: checkpoint header: %v: %w", err, ErrCheckpointCorrupt)
	}
	hs, err := ParseHead(h.Head)
	if err != nil {
		return nil, "", err
	}
	s := &State{Epoch: h.Epoch, EpochStep: h.EpochStep, Step: h.Step, LR: math.Float64frombits(h.LRBits), Loss: h.Loss,
		EpochLossSum: math.Float64frombits(h.EpochLossSum), EpochSamples: h.EpochSamples, History: h.History,
		BestMAP: math.Float64frombits(h.BestMAPBits), BestEpoch: h.BestEpoch, BadEpochs: h.BadEpochs, Done: h.Done,
		Head: NewHead(hs, h.In, h.Out, 0), Best: NewHead(hs, h.In, h.Out, 0)}
	var sizes []int
	for l := range s.Head.W {
		sizes = append(sizes, len(s.Head.W[l]), len(s.Head.B[l]))
	}
	s.Opt = NewAdamW(sizes, h.AdamWD)
	s.Opt.T, s.Opt.Beta1, s.Opt.Beta2, s.Opt.Eps = h.AdamT, h.AdamBeta1, h.AdamBeta2, h.AdamEps
	arrays := stateArrays(s)
	if len(arrays) != len(h.Arrays) {
		return nil, "", fmt.Errorf("train: checkpoint holds %d arrays, head %s needs %d: %w", len(h.Arrays), hs, len(arrays), ErrCheckpointCorrupt)
	}
	for i, a := range arrays {
		if h.Arrays[i] != len(a) {
			return nil, "", fmt.Errorf("train: checkpoint array %d has %d values, want %d: %w", i, h.Arrays[i], len(a), ErrCheckpointCorrupt)
		}
		if err := binary.Read(r, binary.LittleEndian, a); err != nil {
			return nil, "", fmt.Errorf("train: checkpoint array %d: %v: %w", i, err, ErrCheckpointCorrupt)
		}
	}
	if r.Len() != 0 {
		return nil, "", fmt.Errorf("train: %d trailing bytes in checkpoint: %w", r.Len(), ErrCheckpointCorrupt)
	}
	return s, h.Fingerprint, nil
}

// Checkpointer writes checkpoints of one run into Dir, keeping the newest Keep.
type Checkpointer struct {
	Dir         string
	Keep        int    // files kept after rotation (≥ 1)
	Fingerprint string // identifies the run's configuration and data; resume refuses others
	Log         *slog.Logger
}

// ckptName is the file name of the checkpoint after step (sortable).
func ckptName(step int) string { return fmt.Sprintf("ckpt-%010d.atckpt", step) }

// Save writes s atomically, then removes all but the newest Keep checkpoints.
func (c *Checkpointer) Save(s *State) (string, error) {
	b, err := EncodeCheckpoint(s, c.Fingerprint)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", fmt.Errorf("train: checkpoint dir: %w", err)
	}
	path := filepath.Join(c.Dir, ckptName(s.Step))
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return "", fmt.Errorf("train: checkpoint: %w", err)
	}
	return path, c.rotate()
}

// list returns the checkpoint files, oldest first.
func (c *Checkpointer) list() ([]string, error) {
	ents, err := os.ReadDir(c.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "ckpt-") && strings.HasSuffix(e.Name(), ".atckpt") {
			out = append(out, filepath.Join(c.Dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// rotate removes old checkpoints beyond Keep and temporary files left by a crash.
func (c *Checkpointer) rotate() error {
	files, err := c.list()
	if err != nil {
		return err
	}
	for _, t := range c.tempFiles() {
		_ = os.Remove(t)
	}
	keep := max(1, c.Keep)
	for len(files) > keep {
		if err := os.Remove(files[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		files = files[1:]
	}
	return nil
}

// tempFiles lists the temporary files a crash in the middle of Save can leave:
// atomicfile's ".ckpt-….atckpt.tmp-…" (and the ".tmp-ckpt-…" of older versions).
func (c *Checkpointer) tempFiles() []string {
	older, _ := filepath.Glob(filepath.Join(c.Dir, ".tmp-ckpt-*"))
	current, _ := filepath.Glob(filepath.Join(c.Dir, ".ckpt-*.atckpt.tmp-*"))
	return append(older, current...)
}

// Files lists the checkpoint files in Dir, oldest first (none when Dir does not
// exist).
func (c *Checkpointer) Files() ([]string, error) { return c.list() }

// Clear removes the run's checkpoints once they are no longer needed (the model
// file is written): the checkpoint files and temporary files it wrote, then Dir
// itself if that leaves it empty. Nothing else is touched, so a --checkpoints
// folder that holds other files keeps them.
func (c *Checkpointer) Clear() error {
	files, err := c.list()
	if err != nil {
		return fmt.Errorf("train: checkpoints: %w", err)
	}
	for _, f := range append(files, c.tempFiles()...) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("train: removing checkpoint: %w", err)
		}
	}
	if ents, err := os.ReadDir(c.Dir); err == nil && len(ents) == 0 {
		if err := os.Remove(c.Dir); err != nil {
			return fmt.Errorf("train: removing checkpoint folder: %w", err)
		}
	}
	return nil
}

// Latest loads the newest checkpoint that verifies. It returns (nil, "", nil) when
// there is none; corrupt files are skipped with a warning; a checkpoint of another
// configuration is an error (start afresh in another directory instead).
func (c *Checkpointer) Latest() (*State, string, error) {
	files, err := c.list()
	if err != nil {
		return nil, "", err
	}
	for i := len(files) - 1; i >= 0; i-- {
		b, err := os.ReadFile(files[i])
		if err != nil {
			return nil, "", err
		}
		s, fp, err := DecodeCheckpoint(b)
		if err != nil {
			if c.Log != nil {
				c.Log.Warn("skipping unusable checkpoint", "file", files[i], "err", err)
			}
			continue
		}
		if fp != c.Fingerprint {
			return nil, "", fmt.Errorf("train: %s belongs to another run configuration or data (fingerprint %.12s…, this run %.12s…); use a fresh --checkpoints dir or drop --resume", files[i], fp, c.Fingerprint)
		}
		return s, files[i], nil
	}
	return nil, "", nil
}

// CheckpointHook saves a checkpoint every everySteps batches (0: never mid-epoch),
// at the end of every epoch and at the end of training.
func CheckpointHook(c *Checkpointer, everySteps int) Hook {
	save := func(_ *Loop, s *State) error {
		_, err := c.Save(s)
		return err
	}
	return Hook{Name: "checkpoint",
		OnStep: func(l *Loop, s *State) error {
			if everySteps > 0 && s.Step%everySteps == 0 {
				return save(l, s)
			}
			return nil
		},
		OnEpochEnd: save,
		OnEnd:      save,
	}
}

// Fingerprint identifies a run for resuming: the recipe, the data sizes and a key
// naming the features (e.g. the feature cache key).
func Fingerprint(cfg Config, train, val *Features, featureKey string) string {
	h := sha256.New()
	fmt.Fprintf(h, "head=%s loss=%+v epochs=%d batch=%d lr=%v minlr=%v wd=%v warmup=%v seed=%d patience=%d pw=%v\n",
		cfg.Head, cfg.Loss, cfg.Epochs, cfg.Batch, cfg.LR, cfg.MinLR, cfg.WeightDecay, cfg.WarmupEpochs, cfg.Seed, cfg.Patience, cfg.PosWeight)
	fmt.Fprintf(h, "sampler=%s train=%d×%d×%d/%d key=%s\n", cfg.SamplerName, train.N, train.K, train.Dim, train.Classes, featureKey)
	if val != nil {
		fmt.Fprintf(h, "val=%d×%d×%d\n", val.N, val.K, val.Dim)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
