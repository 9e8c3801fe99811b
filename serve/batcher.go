package serve

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autotag/autotag"
)

// errQueueFull is returned by admit when the batch queue has no room: the request is
// refused at once (503 + Retry-After) instead of waiting behind an unbounded queue.
var errQueueFull = errors.New("batch queue is full")

// errDraining is returned once the batcher is stopping.
var errDraining = errors.New("server is shutting down")

// job is one image waiting for a batch. The handler fills it, the worker answers on
// done (buffered, so a worker never blocks on a handler that gave up).
type job struct {
	ctx        context.Context
	img        image.Image
	decodedFor *engineSlot    // the engine img was decoded for (its Decoder); nil: a full decode
	in         *autotag.Input // the image prepared by in's engine (Preparer), img then nil
	inFor      *engineSlot    // the engine that prepared in
	raw        []byte         // the encoded image, kept to decode again for another engine
	hdr        *header        // raw's header, read once by checkUpload
	sel        Selection
	enqueued   time.Time
	release    func() // returns the decode budget; called once the engine is done with img
	done       chan jobResult
}

// jobResult is a worker's answer for one job.
type jobResult struct {
	tags      []Tag
	model     string
	wait      time.Duration // time in the queue
	inference time.Duration // duration of the whole batch the image ran in
	batch     int           // size of that batch
	err       error
}

// engineSlot holds the current engine. Workers hold mu for reading while they use it;
// a reload swaps the slot and takes mu for writing before closing the old engine, so
// no batch runs on a closed engine.
type engineSlot struct {
	mu     sync.RWMutex
	e      Engine
	closed bool
}

// batcher gathers single-image jobs into batches of at most maxBatch, waiting at most
// delay for a batch to fill once its first image arrived, and runs them on workers
// goroutines. Admission is bounded: admit reserves queue slots and fails at once when
// the queue is full. This is dynamic batching as in NVIDIA Triton's dynamic batcher
// and TF Serving's BatchingSession: batches form from whatever is waiting, so a lone
// request pays at most delay and a busy server runs full batches.
type batcher struct {
	queue    chan *job
	depth    atomic.Int64 // reserved slots: admitted images not yet taken by a worker
	capacity int64
	maxBatch int
	delay    time.Duration
	engine   *atomic.Pointer[engineSlot]
	decode   slotDecoder // the server's safeDecode, for fitFor
	m        *metrics
	log      *slog.Logger
	workers  int

	// maxWait bounds the expected queueing time of a newly admitted image, estimated
	// from perImage (an exponentially weighted mean of the engine's time per image):
	// a slow engine refuses work it could not start within maxWait, instead of
	// accepting requests that would time out in the queue.
	maxWait  time.Duration
	perImage atomic.Int64 // nanoseconds; 0 until the first batch

	mu     sync.RWMutex // guards closed against concurrent submit/close
	closed bool
	wg     sync.WaitGroup
}

func newBatcher(capacity, maxBatch, workers int, delay, maxWait time.Duration, engine *atomic.Pointer[engineSlot], decode slotDecoder, m *metrics, log *slog.Logger) *batcher {
	b := &batcher{
		workers:  workers,
		maxWait:  maxWait,
		queue:    make(chan *job, capacity),
		capacity: int64(capacity),
		maxBatch: maxBatch,
		delay:    delay,
		engine:   engine,
		decode:   decode,
		m:        m,
		log:      log,
	}
	for i := 0; i < workers; i++ {
		b.wg.Add(1)
		go b.work()
	}
	return b
}

// admit reserves n queue slots or fails with errQueueFull (or errDraining).
func (b *batcher) admit(n int) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errDraining
	}
	depth := b.depth.Add(int64(n))
	if depth > b.capacity || b.maxWait > 0 && b.expectedWait(depth) > b.maxWait {
		b.depth.Add(-int64(n))
		return errQueueFull
	}
	b.m.queueDepth.Add(float64(n))
	return nil
}

// expectedWait estimates how long the last of depth queued images waits before its
// batch starts, from the engine's recent time per image.
func (b *batcher) expectedWait(depth int64) time.Duration {
	per := b.perImage.Load()
	if per == 0 || depth <= int64(b.maxBatch*b.workers) {
		return 0 // the next batches start right away
	}
	return time.Duration((depth - int64(b.maxBatch*b.workers)) * per / int64(b.workers))
}

// fillWait is the longest a worker holds a partial batch for images that were
// admitted and are still being decoded.
func (b *batcher) fillWait() time.Duration { return max(10*b.delay, 50*time.Millisecond) }

// observe folds one batch's time per image into the running estimate.
func (b *batcher) observe(elapsed time.Duration, n int) {
	sample := int64(elapsed) / int64(n)
	old := b.perImage.Load()
	if old == 0 {
		b.perImage.Store(sample)
		return
	}
	b.perImage.Store((4*old + sample) / 5)
}

// unreserve gives back n slots admitted but never submitted.
func (b *batcher) unreserve(n int) {
	if n > 0 {
		b.depth.Add(-int64(n))
		b.m.queueDepth.Sub(float64(n))
	}
}

// submit queues a job on a slot reserved by admit. It never blocks: the channel holds
// as many jobs as there are slots.
func (b *batcher) submit(j *job) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errDraining
	}
	j.enqueued = time.Now()
	j.done = make(chan jobResult, 1)
	b.queue <- j
	return nil
}

// close stops accepting jobs, lets the workers finish every queued one, and waits.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// take records that a worker took j off the queue.
func (b *batcher) take(j *job) {
	b.depth.Add(-1)
	b.m.queueDepth.Dec()
	b.m.queueWait.Observe(time.Since(j.enqueued).Seconds())
}

func (b *batcher) work() {
	defer b.wg.Done()
	batch := make([]*job, 0, b.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		first, ok := <-b.queue
		if !ok {
			return
		}
		b.take(first)
		batch = append(batch[:0], first)
		// Take whatever is already waiting, then wait up to delay for more.
		open := true
	drain:
		for len(batch) < b.maxBatch {
			select {
			case j, ok := <-b.queue:
				if !ok {
					open = false
					break drain
				}
				b.take(j)
				batch = append(batch, j)
			default:
				break drain
			}
		}
		if open && len(batch) < b.maxBatch && b.delay > 0 {
			// Wait delay for more; while admitted images are still being
			// decoded (reserved, not yet queued), keep waiting for them up to fillWait,
			// so a busy server runs full batches rather than a full one and a ragged one.
			started := time.Now()
			timer.Reset(b.delay)
		wait:
			for len(batch) < b.maxBatch {
				select {
				case j, ok := <-b.queue:
					if !ok {
						break wait
					}
					b.take(j)
					batch = append(batch, j)
				case <-timer.C:
					if b.depth.Load() > 0 && time.Since(started) < b.fillWait() {
						timer.Reset(b.delay)
						continue
					}
					break wait
				}
			}
			timer.Stop()
		}
		b.run(batch)
		clear(batch)
	}
}

// run answers every job of batch: those whose request is already gone get their
// context error, the rest go through the engine in one call.
func (b *batcher) run(batch []*job) {
	live := make([]*job, 0, len(batch))
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.finish(jobResult{err: err})
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	start := time.Now()
	probs, bad, model, err := b.infer(live)
	elapsed := time.Since(start)
	b.m.batchSize.Observe(float64(len(live)))
	b.m.inference.Observe(elapsed.Seconds())
	if err == nil {
		b.observe(elapsed, len(live))
	}
	if err == nil && len(probs) != len(live) {
		err = fmt.Errorf("engine returned %d results for %d images", len(probs), len(live))
	}
	for i, j := range live {
		r := jobResult{model: model, wait: start.Sub(j.enqueued), inference: elapsed, batch: len(live), err: err}
		if err == nil && bad[i] != nil {
			r.err = bad[i]
			b.log.Error("engine gave an unusable answer", "err", bad[i].Error(), "model", model)
		} else if err == nil {
			r.tags = probs[i]
			b.m.images.Inc()
		}
		j.finish(r)
	}
}

// infer runs one batch on the current engine and applies each job's selection. A
// panic in the engine becomes an error for the whole batch; an image whose
// probabilities are not usable (see checkProbabilities) gets its own error in bad.
func (b *batcher) infer(jobs []*job) (tags [][]Tag, bad []error, model string, err error) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("engine panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("engine panicked: %v", p)
		}
	}()
	var slot *engineSlot
	for {
		slot = b.engine.Load()
		slot.mu.RLock()
		if !slot.closed {
			break
		}
		slot.mu.RUnlock()
	}
	defer slot.mu.RUnlock()
	for _, j := range jobs {
		if err := j.fitFor(slot, b.decode); err != nil {
			return nil, nil, "", fmt.Errorf("decoding again for the reloaded model: %w", err)
		}
	}
	ctx := context.Background()
	var probs [][]float32
	if p, ok := slot.e.(Preparer); ok {
		ins := make([]*autotag.Input, len(jobs))
		for i, j := range jobs {
			ins[i] = j.in
		}
		probs, err = p.ProbabilitiesOf(ctx, ins)
	} else {
		imgs := make([]image.Image, len(jobs))
		for i, j := range jobs {
			imgs[i] = j.img
		}
		probs, err = slot.e.Probabilities(ctx, imgs)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("engine: %w", err)
	}
	if len(probs) != len(jobs) {
		return nil, nil, "", fmt.Errorf("engine returned %d results for %d images", len(probs), len(jobs))
	}
	info := slot.e.Info()
	tags = make([][]Tag, len(jobs))
	bad = make([]error, len(jobs))
	for i, p := range probs {
		if err := checkProbabilities(p, len(info.Classes)); err != nil {
			bad[i] = err
			continue
		}
		tags[i] = slot.e.Select(p, jobs[i].sel)
		if tags[i] == nil {
			tags[i] = []Tag{}
		}
	}
	return tags, bad, info.Name, nil
}

// checkProbabilities refuses an engine's answer for one image that is empty, of
// the wrong length (classes > 0), or holds a value that is not a finite number
// in [0, 1]: such an answer cannot be selected from honestly.
func checkProbabilities(p []float32, classes int) error {
	if len(p) == 0 {
		return errors.New("engine returned no probabilities for an image")
	}
	if classes > 0 && len(p) != classes {
		return fmt.Errorf("engine returned %d probabilities for %d classes", len(p), classes)
	}
	for i, v := range p {
		if !(v >= 0 && v <= 1) { // also false for NaN
			return fmt.Errorf("engine returned probability %v for class %d", v, i)
		}
	}
	return nil
}

// fitFor makes the job's image fit for the engine in slot, decoding (and preparing)
// it again from its bytes when it was made for an engine a reload has since replaced:
// what that engine's decoder left out may be what this one reads. It decodes with
// decode, the server's one decoder. A Preparer gets a prepared input, any other
// engine an image.
func (j *job) fitFor(slot *engineSlot, decode slotDecoder) error {
	if _, prepares := slot.e.(Preparer); prepares && j.in != nil && j.inFor == slot {
		return nil
	}
	if j.img == nil || (j.decodedFor != nil && j.decodedFor != slot) {
		img, by, err := decode(context.Background(), j.raw, j.hdr, slot)
		if err != nil {
			return err
		}
		j.img, j.decodedFor = img, by
	}
	_, err := j.prepare(slot)
	return err
}

// slotDecoder decodes an upload of header h (nil: not read yet) for the engine in
// slot; by is slot when the image is only fit for that engine (Server.safeDecode).
type slotDecoder func(ctx context.Context, data []byte, h *header, slot *engineSlot) (img image.Image, by *engineSlot, err error)

// finish releases the job's image and delivers r.
func (j *job) finish(r jobResult) {
	j.img, j.in, j.raw, j.hdr = nil, nil, nil, nil
	if j.release != nil {
		j.release()
		j.release = nil
	}
	j.done <- r
}
