// Package ready is the pool's list of streams with work for a writer.
package ready

import (
	"context"
	"sync"
)

// Queue holds what has work for a writer. Push never blocks, however long
// the list, so the hub can wake writers from its own goroutine; the caller
// keeps an item in it at most once.
type Queue[T any] struct {
	mu    sync.Mutex
	items []T
	wake  chan struct{} // holds a token while items may be non-empty
}

// New returns an empty queue.
func New[T any]() *Queue[T] {
	return &Queue[T]{wake: make(chan struct{}, 1)}
}

// Push adds t.
func (q *Queue[T]) Push(t T) {
	q.mu.Lock()
	q.items = append(q.items, t)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Take waits until there is work, or ctx ends, and returns it all; spare
// (emptied) becomes the list's storage, so a writer that hands back what it
// took allocates nothing.
func (q *Queue[T]) Take(ctx context.Context, spare []T) ([]T, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			out := q.items
			q.items = spare[:0]
			q.mu.Unlock()
			return out, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return spare, false
		}
	}
}
