package data

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"runtime"
	"sync"

	"github.com/autotag/autotag/internal/ordered"
)

// ErrorPolicy says what the loader does with an image that fails to load.
type ErrorPolicy int

const (
	// SkipErrors leaves the item out of its batch and lists it in Batch.Skipped.
	SkipErrors ErrorPolicy = iota
	// FailOnError ends the epoch: Next returns the item's error.
	FailOnError
)

// LoaderConfig configures a Loader. Only Dataset, Spec and BatchSize are required.
type LoaderConfig struct {
	Dataset   *Dataset
	Spec      Spec     // normalisation (colour order, scale, mean, std); with Augment nil also the transform
	Augment   *Augment // training transform; nil = evaluation transform (Preprocess: resize, centre crop)
	BatchSize int
	Workers   int     // decode+augment goroutines; 0 = GOMAXPROCS
	Prefetch  int     // batches prepared ahead of the consumer; 0 = 2
	Sampler   Sampler // epoch order; nil = ShuffleSampler{Seed} with Augment, SequentialSampler without
	Seed      uint64  // augmentation and default shuffle seed
	DropLast  bool    // drop a final partial batch
	// Cache serves images decoded once and shrunk (shorter side Cache.Short); nil =
	// decode the original files every time. For evaluation, where Preprocess would
	// then resample an already shrunk image, leave it nil to match tagging exactly.
	Cache   *Cache
	OnError ErrorPolicy
	Decode  DecodeOptions // caps for decoding originals (the Cache has its own)
}

// Loader turns a dataset into batches of model inputs and targets: a pool of workers
// decodes (or reads the decode cache) and transforms images in parallel, an assembler
// puts them back in sampler order, and a bounded queue holds Prefetch batches ready.
// An epoch's batches depend only on (Seed, epoch, the data), never on timing or the
// number of workers.
type Loader struct {
	cfg  LoaderConfig
	size int
	pool sync.Pool
}

// NewLoader validates cfg and returns a Loader.
func NewLoader(cfg LoaderConfig) (*Loader, error) {
	if cfg.Dataset == nil {
		return nil, errors.New("loader: no dataset")
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("loader: batch size %d", cfg.BatchSize)
	}
	if err := cfg.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	size := cfg.Spec.Crop
	if cfg.Augment != nil {
		if err := cfg.Augment.Validate(); err != nil {
			return nil, fmt.Errorf("loader: %w", err)
		}
		size = cfg.Augment.Size
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 2
	}
	if cfg.Sampler == nil {
		if cfg.Augment != nil {
			cfg.Sampler = ShuffleSampler{N: len(cfg.Dataset.Records), Seed: cfg.Seed}
		} else {
			cfg.Sampler = SequentialSampler{N: len(cfg.Dataset.Records)}
		}
	}
	l := &Loader{cfg: cfg, size: size}
	n := 3 * size * size
	l.pool.New = func() any { b := make([]float32, n); return &b }
	return l, nil
}

// Size is the side of the images in a batch (Augment.Size, else Spec.Crop).
func (l *Loader) Size() int { return l.size }

// Batch is one batch of model inputs and multi-hot targets.
type Batch struct {
	N       int         // rows
	X       []float32   // N×3×Size×Size, NCHW, normalised per Spec
	Y       []float32   // N×len(Classes), 1 for present classes
	Indices []int       // record index of each row
	Skipped []ItemError // items that failed to load under SkipErrors
}

// ItemError is an image that failed to load.
type ItemError struct {
	Index int // record index
	Path  string
	Err   error
}

func (e ItemError) Error() string { return fmt.Sprintf("record %d (%s): %v", e.Index, e.Path, e.Err) }

// Image loads record i's image: from the cache (shrunk) when configured, else
// decoded from the original.
func (l *Loader) Image(i int) (image.Image, error) {
	if i < 0 || i >= len(l.cfg.Dataset.Records) {
		return nil, fmt.Errorf("loader: record index %d outside 0..%d", i, len(l.cfg.Dataset.Records)-1)
	}
	p := l.cfg.Dataset.Records[i].Path
	if l.cfg.Cache != nil {
		return l.cfg.Cache.Load(p)
	}
	return DecodeFile(p, l.cfg.Decode)
}

// item transforms record idx at epoch position pos into dst.
func (l *Loader) item(idx, pos, epoch int, dst []float32) error {
	img, err := l.Image(idx)
	if err != nil {
		return err
	}
	if a := l.cfg.Augment; a != nil {
		// Position, not record index: a record drawn twice in an epoch by the
		// repeat-factor sampler gets two different views.
		return a.ApplyTensor(img, l.cfg.Spec, l.cfg.Seed, epoch, pos, dst)
	}
	return Preprocess(img, l.cfg.Spec, dst)
}

// EpochIter yields one epoch's batches. Call Close when done (also after an error).
type EpochIter struct {
	out    chan batchOrErr
	cancel context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
}

type batchOrErr struct {
	b   *Batch
	err error
}

type loadResult struct {
	idx int
	buf *[]float32
	err error
}

// Epoch starts loading epoch number epoch (which seeds the order and augmentations).
func (l *Loader) Epoch(ctx context.Context, epoch int) *EpochIter {
	ctx, cancel := context.WithCancel(ctx)
	it := &EpochIter{out: make(chan batchOrErr, l.cfg.Prefetch), cancel: cancel, ctx: ctx}
	order := l.cfg.Sampler.Epoch(epoch)
	bs := l.cfg.BatchSize
	window := bs*(l.cfg.Prefetch+1) + l.cfg.Workers // items in flight

	it.wg.Add(1)
	go func() { // workers decode and augment; this goroutine restores epoch order and fills batches
		defer it.wg.Done()
		defer close(it.out)
		send := func(v batchOrErr) bool {
			select {
			case it.out <- v:
				return true
			case <-ctx.Done():
				return false
			}
		}
		classes := len(l.cfg.Dataset.Classes)
		plane := 3 * l.size * l.size
		var cur *Batch
		load := func(pos int) loadResult {
			idx := order[pos]
			buf := l.pool.Get().(*[]float32)
			return loadResult{idx, buf, l.item(idx, pos, epoch, *buf)}
		}
		ordered.Map(ctx, len(order), l.cfg.Workers, window, load, func(_ int, r loadResult) bool {
			if cur == nil {
				cur = &Batch{X: make([]float32, 0, bs*plane), Y: make([]float32, 0, bs*classes)}
			}
			if r.err != nil {
				ie := ItemError{Index: r.idx, Err: r.err}
				if r.idx >= 0 && r.idx < len(l.cfg.Dataset.Records) {
					ie.Path = l.cfg.Dataset.Records[r.idx].Path
				}
				l.pool.Put(r.buf)
				if l.cfg.OnError == FailOnError {
					send(batchOrErr{err: ie})
					cancel()
					return false
				}
				cur.Skipped = append(cur.Skipped, ie)
				return true
			}
			cur.X = append(cur.X, (*r.buf)[:plane]...)
			l.pool.Put(r.buf)
			row := make([]float32, classes)
			for _, c := range l.cfg.Dataset.Records[r.idx].Labels {
				row[c] = 1
			}
			cur.Y = append(cur.Y, row...)
			cur.Indices = append(cur.Indices, r.idx)
			cur.N++
			if cur.N == bs {
				if !send(batchOrErr{b: cur}) {
					return false
				}
				cur = nil
			}
			return true
		})
		if ctx.Err() != nil {
			return
		}
		if cur != nil && (cur.N > 0 && !l.cfg.DropLast || cur.N == 0 && len(cur.Skipped) > 0) {
			send(batchOrErr{b: cur})
		}
	}()
	return it
}

// Next returns the next batch, io.EOF after the last, the context's error when it is
// cancelled, or an item's error under FailOnError. A batch may have N == 0 when
// every remaining item was skipped (its Skipped says why).
func (it *EpochIter) Next() (*Batch, error) {
	select {
	case v, ok := <-it.out:
		if !ok {
			if err := it.ctx.Err(); err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		if v.err != nil {
			return nil, v.err
		}
		return v.b, nil
	case <-it.ctx.Done():
		return nil, it.ctx.Err()
	}
}

// Close stops the epoch's goroutines and waits for them.
func (it *EpochIter) Close() {
	it.cancel()
	it.wg.Wait()
}
