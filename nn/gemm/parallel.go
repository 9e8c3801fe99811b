package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// threads is the SetThreads value; 0 means GOMAXPROCS.
var threads atomic.Int32

// SetThreads sets how many goroutines one Sgemm call may use; n ≤ 0 restores the default,
// GOMAXPROCS. It is safe to call at any time and applies to calls that start afterwards.
func SetThreads(n int) {
	if n < 0 {
		n = 0
	}
	threads.Store(int32(n))
}

// Threads reports how many goroutines one Sgemm call may use.
func Threads() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// minWorkPerThread is the fewest multiply-adds worth handing to another goroutine.
const minWorkPerThread = 1 << 18

// job asks a worker to compute parts[i] of problem p, or, when r is set, to help run
// the loop r.
type job struct {
	p *problem
	i int
	r *rangeCall
}

// workers is a pool of long-lived goroutines that run parts of calls, so a call spawns
// nothing (goroutine start-up and its closure would allocate).
var workers struct {
	mu      sync.Mutex
	started int
	jobs    chan job
}

// ensureWorkers makes sure at least n worker goroutines are running.
func ensureWorkers(n int) {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	if workers.jobs == nil {
		workers.jobs = make(chan job, 256)
	}
	for ; workers.started < n; workers.started++ {
		go worker(workers.jobs)
	}
}

// spinTime is how long a worker polls for its next job, and a caller for its workers,
// before parking. A network runs its GEMMs back to back with short gaps (im2col, pooling),
// and waking a parked goroutine costs a futex wake-up and a work steal, tens of
// microseconds on a VM: a sizeable share of a sub-millisecond product. OpenBLAS's threads
// spin for the same reason (far longer). Polling yields the processor between checks.
const spinTime = 100 * time.Microsecond

// worker runs jobs forever, polling for spinTime after each before blocking.
func worker(jobs <-chan job) {
	for {
		j, ok := poll(jobs)
		if !ok {
			j = <-jobs
		}
		j.run()
	}
}

// run executes the job and reports it done.
func (j job) run() {
	if j.r != nil {
		j.r.drain()
		j.r.pending.Add(-1)
		j.r.wg.Done() // last touch of j.r: the caller may recycle it now
		return
	}
	j.p.runPart(j.p.parts[j.i])
	j.p.pending.Add(-1)
	j.p.wg.Done() // last touch of j.p: the caller may recycle it now
}

// poll tries to receive a job for up to spinTime.
func poll(jobs <-chan job) (job, bool) {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case j := <-jobs:
			return j, true
		default:
		}
		if i%16 == 15 && time.Since(start) > spinTime {
			return job{}, false
		}
		runtime.Gosched()
	}
}

// run computes problem p, splitting C across up to Threads() goroutines: the caller
// computes the first part and the worker pool the others. It takes ownership of p.
func run(p *problem) { runOn(p, Threads()) }

// runOn is run with at most t goroutines.
func runOn(p *problem, t int) {
	p.partition(t)
	if len(p.parts) > 1 {
		ensureWorkers(len(p.parts) - 1)
		p.wg.Add(len(p.parts) - 1)
		p.pending.Store(int32(len(p.parts) - 1))
		for i := 1; i < len(p.parts); i++ {
			workers.jobs <- job{p: p, i: i}
		}
	}
	p.runPart(p.parts[0])
	if len(p.parts) > 1 {
		awaitPending(&p.pending)
	}
	p.wg.Wait()
	p.a, p.b, p.c, p.pa, p.pb, p.kern, p.fill, p.epi = nil, nil, nil, nil, nil, nil, nil, nil
	problemPool.Put(p)
}

// partition splits C into a tm×tn grid of parts (tm·tn ≤ t), aligned to micro-panels.
// The grid minimises a simple cost model: the largest part's multiply-adds plus what its
// goroutine packs (its rows of A, unless pre-packed, and its columns of B), a packed
// element costing about as much as 16 multiply-adds (a scalar copy against a SIMD FMA lane).
func (p *problem) partition(t int) {
	mr, nr := p.kern.mr, p.kern.nr
	pm, pn := ceilDiv(p.m, mr), ceilDiv(p.n, nr)
	t = min(t, max(1, p.m*p.n*p.k/minWorkPerThread), pm*pn)
	bestM, bestN, best := 1, 1, -1
	for tm := 1; tm <= t; tm++ {
		tn := t / tm
		if tm > pm || tn > pn {
			continue
		}
		rows, cols := ceilDiv(pm, tm)*mr, ceilDiv(pn, tn)*nr
		cost := rows * cols * p.k
		if p.pb == nil {
			cost += 16 * cols * p.k
		}
		if p.pa == nil {
			cost += 16 * rows * p.k
			if p.fill != nil && p.ct {
				cost += 16 * rows * p.k // a FillB (im2col) costs more than a copy
			}
		}
		if best < 0 || cost < best || (cost == best && tm*tn > bestM*bestN) {
			bestM, bestN, best = tm, tn, cost
		}
	}
	p.parts = p.parts[:0]
	for i := 0; i < bestM; i++ {
		r0, r1 := min(i*pm/bestM*mr, p.m), min((i+1)*pm/bestM*mr, p.m)
		for j := 0; j < bestN; j++ {
			c0, c1 := min(j*pn/bestN*nr, p.n), min((j+1)*pn/bestN*nr, p.n)
			if r0 < r1 && c0 < c1 {
				p.parts = append(p.parts, part{r0, r1, c0, c1})
			}
		}
	}
}

// awaitPending polls until pending drops to zero or spinTime passes (then the caller
// parks in its WaitGroup): the workers' parts are usually done within microseconds.
// While it waits it runs queued jobs itself, its own or other callers': when several
// goroutines multiply at once (one runner per worker), the pool's few goroutines
// would otherwise leave each caller waiting on parts queued behind the others'.
func awaitPending(pending *atomic.Int32) {
	start := time.Now()
	for i := 0; pending.Load() > 0; i++ {
		select {
		case j := <-workers.jobs:
			j.run()
			start = time.Now()
			continue
		default:
		}
		if i%16 == 15 && time.Since(start) > spinTime {
			return
		}
		runtime.Gosched()
	}
}

// RangeTask is the body of a loop over [lo, hi) for ParallelFor. Implement it on a
// pointer to a struct the caller keeps, not a closure, so that a call allocates nothing.
type RangeTask interface{ RunRange(lo, hi int) }

// rangeCall is one ParallelFor call in flight. Values are pooled.
type rangeCall struct {
	task     RangeTask
	n, chunk int
	next     atomic.Int64 // the start of the next chunk to hand out
	wg       sync.WaitGroup
	pending  atomic.Int32
}

// drain runs chunks of the loop until none is left.
func (r *rangeCall) drain() {
	for {
		lo := int(r.next.Add(int64(r.chunk))) - r.chunk
		if lo >= r.n {
			return
		}
		r.task.RunRange(lo, min(lo+r.chunk, r.n))
	}
}

var rangePool = sync.Pool{New: func() any { return new(rangeCall) }}

// ParallelFor runs task over [0, n) on up to Threads() goroutines, the caller and the
// GEMM's workers, and returns when all is done. The goroutines take chunks of about
// n/(4·threads) indices from a shared counter until none is left, so one that starts
// late or runs slow (another process on its core) takes fewer. Sharing the workers with
// the products means the loops between them (im2col, bias/ReLU passes, pooling) find a
// worker still polling for its next job (see spinTime) rather than a parked goroutine
// to wake. Chunks are disjoint, so task must only write state owned by its range.
func ParallelFor(n int, task RangeTask) {
	t := min(Threads(), n)
	if t < 2 {
		task.RunRange(0, n)
		return
	}
	ensureWorkers(t - 1)
	r := rangePool.Get().(*rangeCall)
	r.task, r.n, r.chunk = task, n, max(1, n/(4*t))
	r.next.Store(0)
	r.wg.Add(t - 1)
	r.pending.Store(int32(t - 1))
	for i := 1; i < t; i++ {
		workers.jobs <- job{r: r}
	}
	r.drain()
	awaitPending(&r.pending)
	r.wg.Wait()
	r.task = nil
	rangePool.Put(r)
}
