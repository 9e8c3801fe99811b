package ordered

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

func TestMapEmitsInOrder(t *testing.T) {
	for _, workers := range []int{1, 2, 7} {
		var got []int
		n := Map(context.Background(), 200, workers, 8, func(i int) int {
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond) // finish out of order
			return i * i
		}, func(i, v int) bool {
			if v != i*i {
				t.Errorf("emit(%d, %d), want %d", i, v, i*i)
			}
			got = append(got, i)
			return true
		})
		if n != 200 || len(got) != 200 {
			t.Fatalf("workers %d: emitted %d (returned %d), want 200", workers, len(got), n)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("workers %d: position %d emitted item %d", workers, i, v)
			}
		}
	}
}

func TestMapBoundsItemsInFlight(t *testing.T) {
	// Item 0 is slow: the others finish but must wait, and no more than window may
	// be started before item 0 is emitted.
	const window = 5
	var started, maxAhead atomic.Int64
	var emitted atomic.Int64
	Map(context.Background(), 50, 3, window, func(i int) int {
		s := started.Add(1)
		if ahead := s - emitted.Load(); ahead > maxAhead.Load() {
			maxAhead.Store(ahead)
		}
		if i == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		return i
	}, func(int, int) bool { emitted.Add(1); return true })
	if m := maxAhead.Load(); m > window {
		t.Errorf("%d items in flight, window is %d", m, window)
	}
}

func TestMapStops(t *testing.T) {
	var calls atomic.Int64
	n := Map(context.Background(), 1000, 2, 4, func(i int) int { calls.Add(1); return i },
		func(i, _ int) bool { return i < 9 })
	if n != 10 {
		t.Errorf("emitted %d, want 10 (emit said stop at item 9)", n)
	}
	if c := calls.Load(); c > 10+4 {
		t.Errorf("fn ran %d times after the stop, want at most the window beyond it", c)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n := Map(ctx, 1000, 2, 4, func(i int) int { return i }, func(int, int) bool { return true }); n > 4 {
		t.Errorf("cancelled context: emitted %d, want at most the window", n)
	}
	if n := Map(context.Background(), 0, 2, 4, func(i int) int { return i }, func(int, int) bool { return true }); n != 0 {
		t.Errorf("n = 0: emitted %d", n)
	}
}
