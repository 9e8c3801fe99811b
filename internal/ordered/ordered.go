// Package ordered runs independent work items in parallel and hands their results
// back in input order, with a bounded number of items in flight: the shape of both
// `autotag tag` (decode photos in parallel, print rows in order) and the training
// data loader (decode and augment in parallel, assemble batches in sampler order).
package ordered

import (
	"context"
	"sync"
)

// Map computes fn(i) for every i in [0, n) on workers goroutines and calls emit(i, v)
// for i = 0, 1, … in order, from the calling goroutine. At most window items are in
// flight (started but not yet emitted), which bounds the memory held by results that
// wait for a slower earlier item. Map returns the number of items emitted: n, or
// fewer when ctx was cancelled or emit returned false. It returns only after every
// worker has stopped, so fn is never running once Map has returned.
func Map[T any](ctx context.Context, n, workers, window int, fn func(i int) T, emit func(i int, v T) bool) int {
	workers = max(1, min(workers, n))
	window = max(window, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		i int
		v T
	}
	slots := make(chan struct{}, window)
	jobs := make(chan int)
	results := make(chan result, workers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // producer: indices in order, bounded by the window
		defer wg.Done()
		defer close(jobs)
		for i := 0; i < n; i++ {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var busy sync.WaitGroup
	for range workers {
		busy.Add(1)
		go func() {
			defer busy.Done()
			for i := range jobs {
				r := result{i, fn(i)}
				select {
				case results <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { busy.Wait(); close(results) }()

	pending := make(map[int]T, window)
	next := 0
	stopped := false
	for r := range results {
		if stopped {
			continue // drain so that every worker can finish
		}
		pending[r.i] = r.v
		for {
			v, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			<-slots
			keep := emit(next, v)
			next++
			if !keep {
				stopped = true
				cancel()
				break
			}
		}
	}
	wg.Wait()
	return next
}
