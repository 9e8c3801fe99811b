package autotag

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/autotag/autotag/data"
	"github.com/autotag/autotag/model"
	"github.com/autotag/autotag/nn"
	"github.com/autotag/autotag/weights"
)

// ErrClosed is returned by a Tagger's methods after Close.
var ErrClosed = errors.New("autotag: tagger is closed")

// ModelInfo describes the model a Tagger runs.
type ModelInfo struct {
	Name       string    `json:"name"`                 // cache name, or the file name without extension
	Path       string    `json:"path,omitempty"`       // the model file
	SHA256     string    `json:"sha256,omitempty"`     // of the model file
	Arch       string    `json:"arch,omitempty"`       // "resnet50"
	Layout     string    `json:"layout,omitempty"`     // "keras-v1" or "torchvision-v1.5" (of the backbone)
	Source     string    `json:"source,omitempty"`     // where the weights came from
	Activation string    `json:"activation,omitempty"` // "softmax" or "sigmoid"
	Classes    []string  `json:"classes"`              // the model's own labels, in output order
	Thresholds []float32 `json:"thresholds,omitempty"` // per-class thresholds from the file, if any
	InputSize  int       `json:"input_size,omitempty"` // side of the square input, pixels
}

// Tagger tags images with one model. It is safe for concurrent use: each of its
// workers owns compiled graphs (nn.Runner) for the batch sizes it runs, built when
// the Tagger opens, and the weights are shared read-only between them.
type Tagger struct {
	info     ModelInfo
	opts     options
	spec     data.Spec
	model    *model.Model // the backbone, its head and the scoring
	selector *Selector

	pool   chan *worker // idle workers
	all    []*worker
	shared *nn.Pool  // the workers' batch runners' threads (nil: no batch runner is data-parallel)
	inputs sync.Pool // *[]float32 of one batch of preprocessed images (opts.batch of them)

	mu     sync.Mutex
	closed bool
	active sync.WaitGroup
}

// worker is one set of runners, used by one goroutine at a time.
type worker struct {
	runners map[int]*nn.Runner // by batch size
}

// Open loads a model and prepares it for tagging. model is a model file path or the
// name of a cached model (see weights.Resolve; "" is the default model). A head-only
// model file (as `autotag train` writes) is combined with the cached backbone whose
// sha256 it names. Label rules default to DefaultRules for a 1000-class softmax
// (ImageNet) model and to none otherwise; see WithRules and WithoutRules.
func Open(ctx context.Context, model string, opts ...Option) (*Tagger, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("autotag: %w", err)
		}
	}
	if o.workers == 0 {
		o.workers = DefaultWorkers
	}
	if o.batch == 0 {
		o.batch = 1
	}
	path, err := weights.Resolve(model)
	if err != nil {
		return nil, fmt.Errorf("autotag: %w", err)
	}
	t, err := open(ctx, path, o)
	if err != nil {
		return nil, fmt.Errorf("autotag: opening %s: %w", path, err)
	}
	return t, nil
}

// open builds a Tagger on the model file at path: model.OpenFile does everything
// that depends on the file, then the label selector and the runners.
func open(ctx context.Context, path string, o options) (*Tagger, error) {
	m, err := model.OpenFile(ctx, path, model.Options{Engine: o.engine})
	if err != nil {
		return nil, err
	}
	t := &Tagger{info: modelInfo(m), opts: o, spec: m.Spec, model: m}
	if t.selector, err = newSelector(m, o); err != nil {
		return nil, err
	}
	if err := t.startWorkers(ctx); err != nil {
		t.closeRunners()
		return nil, err
	}
	return t, nil
}

// modelInfo describes an opened model.
func modelInfo(m *model.Model) ModelInfo {
	return ModelInfo{
		Name: modelName(m.Path), Path: m.Path, SHA256: m.SHA256, Arch: "resnet50", Layout: m.Backbone.Meta.Layout,
		Source: m.Meta.Source, Activation: m.Activation, Classes: m.Classes, Thresholds: m.Meta.Thresholds,
		InputSize: m.Spec.Crop,
	}
}

// newSelector is the label selector of o for m: label rules default to DefaultRules
// for a 1000-class softmax (ImageNet) model and to none otherwise.
func newSelector(m *model.Model, o options) (*Selector, error) {
	rules := o.rules
	if !o.rulesSet && m.Activation == "softmax" && len(m.Classes) == 1000 {
		rules = DefaultRules()
	}
	return NewSelector(m.Classes, m.Activation, rules, m.Meta.Thresholds)
}

// startWorkers builds every worker's runners (batch 1 and the batch size) before any
// of them runs, as graphs share the folded weights. Batches run data-parallel on one
// pool of single-threaded runners shared by every worker (nn.Pool): the workers'
// batches overlap on its threads, so none idles at a batch's end while another batch
// waits. On error the caller closes what was built.
func (t *Tagger) startWorkers(ctx context.Context) error {
	m, o := t.model, t.opts
	if threads := m.Net.DataParallelThreads(o.batch); threads > 0 {
		var err error
		if t.shared, err = m.NewPool(threads); err != nil {
			return err
		}
	}
	t.pool = make(chan *worker, o.workers)
	for range o.workers {
		w := &worker{runners: map[int]*nn.Runner{}}
		t.all = append(t.all, w)
		for _, b := range []int{1, o.batch} {
			if w.runners[b] != nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if b > 1 && t.shared != nil {
				w.runners[b] = m.NewPooledRunner(b, t.shared)
				continue
			}
			r, err := m.NewRunner(b)
			if err != nil {
				return err
			}
			w.runners[b] = r
		}
		t.pool <- w
	}
	return nil
}

// modelName is the cache name of path, or its file name without extension.
func modelName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// begin registers a call in flight; it fails once the Tagger is closed.
func (t *Tagger) begin() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	t.active.Add(1)
	return nil
}

// Tag returns the tags of one image, best first.
func (t *Tagger) Tag(ctx context.Context, img image.Image) ([]Tag, error) {
	tags, err := t.TagBatch(ctx, []image.Image{img})
	if err != nil {
		return nil, err
	}
	return tags[0], nil
}

// TagReader decodes an image (JPEG, PNG, GIF, WebP, BMP or TIFF; the pixel cap of
// WithMaxPixels is checked before decoding) and tags it. It decodes as
// DecodeBytesContext does: ctx stops the decode too, not only the model.
func (t *Tagger) TagReader(ctx context.Context, r io.Reader) ([]Tag, error) {
	img, err := data.Decode(r, t.decodeOptions(ctx))
	if err != nil {
		return nil, fmt.Errorf("autotag: %w", err)
	}
	return t.Tag(ctx, img)
}

// DecodeBytes is DecodeBytesContext without a context: the decode runs to its end
// (its work is still bounded by the decoder's limits).
func (t *Tagger) DecodeBytes(b []byte) (image.Image, error) {
	return t.DecodeBytesContext(context.Background(), b)
}

// DecodeBytesContext decodes an encoded image for this Tagger's Tag, TagBatch and
// Probabilities, and for nothing else: a JPEG is decoded only as far as the model's
// preprocessing reads (pixels outside the centre crop's window are left undefined)
// and, with WithFastDecode, at 1/2, 1/4 or 1/8 scale when it is big enough (see
// data.DecodeOptions). The pixel cap of WithMaxPixels is checked before decoding,
// a JPEG asking for too much work is refused (data.ErrTooMuchWork), and ctx stops a
// JPEG decode between scans and MCU rows. Use data.Decode for an image you want to
// look at.
func (t *Tagger) DecodeBytesContext(ctx context.Context, b []byte) (image.Image, error) {
	return t.DecodeBytesHeader(ctx, b, nil)
}

// DecodeBytesHeader is DecodeBytesContext of b whose header h data.DecodeHeader
// has already read (nil: not read yet), so that it is not read again: a server
// reads each upload's header once, to check it before admitting the upload.
func (t *Tagger) DecodeBytesHeader(ctx context.Context, b []byte, h *data.Header) (image.Image, error) {
	opt := t.decodeOptions(ctx)
	opt.Header = h
	img, err := data.DecodeBytes(b, opt)
	if err != nil {
		return nil, fmt.Errorf("autotag: %w", err)
	}
	return img, nil
}

// decodeOptions are the data.DecodeOptions of TagReader and DecodeBytesContext.
func (t *Tagger) decodeOptions(ctx context.Context) data.DecodeOptions {
	spec := t.spec
	return data.DecodeOptions{MaxPixels: t.opts.maxPixels, MaxBytes: t.opts.maxBytes, For: &spec, Reduce: t.opts.fast, Context: ctx}
}

// TagBatch tags several images; the result has one slice per image, in order.
func (t *Tagger) TagBatch(ctx context.Context, imgs []image.Image) ([][]Tag, error) {
	probs, err := t.Probabilities(ctx, imgs)
	if err != nil {
		return nil, err
	}
	out := make([][]Tag, len(probs))
	for i, p := range probs {
		out[i] = t.Select(p, Selection{})
	}
	return out, nil
}

// Probabilities runs the model and returns, for each image, one probability per
// class (Info().Classes order) after the model's activation (softmax or sigmoid),
// before label rules and thresholds; Select turns them into tags.
func (t *Tagger) Probabilities(ctx context.Context, imgs []image.Image) ([][]float32, error) {
	for i, img := range imgs {
		if img == nil || img.Bounds().Empty() {
			return nil, fmt.Errorf("autotag: image %d is nil or empty", i)
		}
	}
	return t.probabilities(ctx, len(imgs), func(i int, dst []float32) error {
		if err := data.Preprocess(imgs[i], t.spec, dst); err != nil {
			return fmt.Errorf("autotag: preprocessing image %d: %w", i, err)
		}
		return nil
	})
}

// Input is one image preprocessed for a Tagger's model (see Prepare): 3·S·S floats
// for an S×S model input, about 600 KB at 224², whatever the photo's size.
type Input struct {
	t *Tagger
	x []float32
}

// ErrForeignInput is returned by ProbabilitiesOf for an Input another Tagger
// prepared: its model may preprocess differently.
var ErrForeignInput = errors.New("autotag: input prepared by another Tagger")

// Prepare preprocesses img for this Tagger's model ahead of ProbabilitiesOf. A server
// prepares each upload in the goroutine that decoded it, as it arrives, and keeps the
// small Input instead of the decoded photo until its batch runs; the batch is then the
// forward pass alone.
func (t *Tagger) Prepare(img image.Image) (*Input, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, errors.New("autotag: image is nil or empty")
	}
	in := &Input{t: t, x: make([]float32, 3*t.spec.Crop*t.spec.Crop)}
	if err := data.Preprocess(img, t.spec, in.x); err != nil {
		return nil, fmt.Errorf("autotag: preprocessing: %w", err)
	}
	return in, nil
}

// ProbabilitiesOf is Probabilities of inputs made by this Tagger's Prepare.
func (t *Tagger) ProbabilitiesOf(ctx context.Context, ins []*Input) ([][]float32, error) {
	for i, in := range ins {
		if in == nil || in.t != t {
			return nil, fmt.Errorf("input %d: %w", i, ErrForeignInput)
		}
	}
	return t.probabilities(ctx, len(ins), func(i int, dst []float32) error {
		copy(dst, ins[i].x)
		return nil
	})
}

// probabilities runs n images through the model in chunks of up to the batch size,
// on up to all workers at once; fill writes image i's model input into dst.
func (t *Tagger) probabilities(ctx context.Context, n int, fill func(i int, dst []float32) error) ([][]float32, error) {
	if err := t.begin(); err != nil {
		return nil, err
	}
	defer t.active.Done()
	if n == 0 {
		return [][]float32{}, nil
	}
	out := make([][]float32, n)
	b := t.opts.batch
	nchunks := (n + b - 1) / b
	if nchunks <= 1 {
		if err := t.runChunk(ctx, 0, n, fill, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	// Several chunks: preprocess and run them on up to all workers at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, len(t.all))
	var wg sync.WaitGroup
	for range min(len(t.all), nchunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				lo, hi := c*b, min((c+1)*b, n)
				if err := t.runChunk(ctx, lo, hi, fill, out[lo:hi]); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for c := range nchunks {
		select {
		case next <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// runChunk fills the inputs of images [lo, hi) (at most one batch), runs them on an
// idle worker and stores the probabilities in out.
func (t *Tagger) runChunk(ctx context.Context, lo, hi int, fill func(i int, dst []float32) error, out [][]float32) error {
	per := 3 * t.spec.Crop * t.spec.Crop
	buf, _ := t.inputs.Get().(*[]float32)
	if buf == nil || len(*buf) != t.opts.batch*per {
		b := make([]float32, t.opts.batch*per)
		buf = &b
	}
	defer t.inputs.Put(buf)
	n := hi - lo
	x := (*buf)[:n*per]
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fill(lo+i, x[i*per:(i+1)*per]); err != nil {
			return err
		}
	}
	var w *worker
	select {
	case w = <-t.pool:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { t.pool <- w }()
	// first is the index, among this call's images, of x's first image.
	run := func(r *nn.Runner, x []float32, out [][]float32, first int) error {
		feats, _, err := r.Forward(x)
		if err != nil {
			return fmt.Errorf("autotag: %w", err)
		}
		probs := t.model.Scores(feats, len(x)/per)
		c := len(t.info.Classes)
		for i := range out {
			p := probs[i*c : (i+1)*c : (i+1)*c]
			if j := nonFinite(p); j >= 0 {
				return fmt.Errorf("autotag: image %d: the model gave a non-finite probability for class %d (%s)", first+i, j, t.info.Classes[j])
			}
			out[i] = p
		}
		return nil
	}
	if r := w.runners[n]; r != nil {
		return run(r, x, out, lo)
	}
	// A short chunk (the server's partial batches) on a data-parallel batch runner
	// still keeps every thread busy; one image at a time would use the batch-1 graph.
	if r := w.runners[t.opts.batch]; r != nil && r.Flexible() && n > 1 {
		return run(r, x, out, lo)
	}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := run(w.runners[1], x[i*per:(i+1)*per], out[i:i+1], lo+i); err != nil {
			return err
		}
	}
	return nil
}

// nonFinite returns the index of the first NaN or ±Inf in p, or -1. Weights are
// checked when a model loads, but finite weights can still overflow (a huge logit
// makes softmax NaN), and a NaN must never pass a threshold comparison silently.
func nonFinite(p []float32) int {
	for i, v := range p {
		if v-v != 0 {
			return i
		}
	}
	return -1
}

// Info describes the model (a copy; the caller may keep it).
func (t *Tagger) Info() ModelInfo {
	info := t.info
	info.Classes = slices.Clone(info.Classes)
	info.Thresholds = slices.Clone(info.Thresholds)
	return info
}

// Close waits for calls in flight, then releases the compiled graphs. Later calls
// return ErrClosed; closing twice is harmless.
func (t *Tagger) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.active.Wait()
	return t.closeRunners()
}

func (t *Tagger) closeRunners() error {
	var errs []error
	for _, w := range t.all {
		for _, r := range w.runners {
			errs = append(errs, r.Close())
		}
	}
	t.all = nil
	if t.shared != nil {
		errs = append(errs, t.shared.Close())
		t.shared = nil
	}
	return errors.Join(errs...)
}
