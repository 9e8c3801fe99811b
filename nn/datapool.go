package nn

import (
	"errors"
	"fmt"
	"sync"
)

// Pool is a set of single-threaded batch-1 runners, one per thread, each on its own
// goroutine, taking images from one shared queue. Data-parallel runners (NewRunner
// unless Engine.DisableDataParallel, NewPooledRunner) hand their images to a pool.
// Several runners may share one pool and run Forward at the same time; their batches
// then overlap: a thread that has finished its share of one batch starts on the next
// batch's images instead of waiting at the first batch's end, the barrier that
// otherwise idles a core at every batch's tail while the last image finishes on the
// other. The queue is first in, first out, and each call queues all its images at
// once, so an earlier batch's images are all taken before a later one's.
type Pool struct {
	runners   []*Runner
	tasks     chan poolTask // buffered: a call queues all its images at once
	enqueue   sync.Mutex    // held while a call queues, so calls' images stay in order
	h, w      int
	feat      int // features per image
	classes   int // logits per image
	done      sync.WaitGroup
	closeOnce sync.Once
}

// poolQueue is the pool's queue length in images; a call with more waits for room.
const poolQueue = 256

// poolTask is one image of a Forward call: its input and where its outputs go.
type poolTask struct {
	x, feat, logit []float32
	call           *poolCall
}

// poolCall gathers the images of one Forward call.
type poolCall struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

// NewPool compiles threads single-threaded batch-1 runners for height×width inputs
// and starts their goroutines. Close stops them.
func (m *ResNet50) NewPool(threads, height, width int) (*Pool, error) {
	if threads < 1 {
		return nil, fmt.Errorf("nn: NewPool: %d threads, want at least 1", threads)
	}
	p := &Pool{tasks: make(chan poolTask, poolQueue), h: height, w: width, feat: FeatureDim, classes: m.Config.NumClasses}
	for range threads {
		r, err := m.newRunner(1, height, width, 4, true)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.runners = append(p.runners, r)
	}
	for _, r := range p.runners {
		p.done.Add(1)
		go p.serve(r)
	}
	return p, nil
}

// serve runs the pool's tasks on r until the queue closes.
func (p *Pool) serve(r *Runner) {
	defer p.done.Done()
	for t := range p.tasks {
		f, l, err := r.Forward(t.x) // recovers its own panics into err
		if err == nil {
			copy(t.feat, f)
			copy(t.logit, l)
		} else {
			t.call.mu.Lock()
			t.call.err = errors.Join(t.call.err, err)
			t.call.mu.Unlock()
		}
		t.call.wg.Done()
	}
}

// Threads is the number of runners (and goroutines) of the pool.
func (p *Pool) Threads() int { return len(p.runners) }

// forward runs the n = len(x)/(3·h·w) images of x on the pool's runners and writes
// their features and logits to feats (n×FeatureDim) and logits (n×classes).
func (p *Pool) forward(x, feats, logits []float32) error {
	img := 3 * p.h * p.w
	n := len(x) / img
	c := &poolCall{}
	c.wg.Add(n)
	p.enqueue.Lock()
	for j := range n {
		p.tasks <- poolTask{x: x[j*img : (j+1)*img],
			feat: feats[j*p.feat : (j+1)*p.feat], logit: logits[j*p.classes : (j+1)*p.classes], call: c}
	}
	p.enqueue.Unlock()
	c.wg.Wait()
	return c.err
}

// Close stops the goroutines once their current images are done and releases the
// runners. Every Forward on a runner of the pool must have returned.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		close(p.tasks)
		p.done.Wait()
		for _, r := range p.runners {
			r.Close()
		}
	})
	return nil
}
