package pool

import (
	"context"
	"sync"
)

// ready holds the streams that have work for a writer. push never blocks,
// however many streams there are, so the hub can wake writers from its own
// goroutine; a stream is in it at most once (Conn.scheduled).
type ready struct {
	mu    sync.Mutex
	conns []*Conn
	wake  chan struct{} // holds a token while conns may be non-empty
}

func newReady() *ready {
	return &ready{wake: make(chan struct{}, 1)}
}

func (r *ready) push(c *Conn) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take waits until there are streams with work, or ctx ends, and returns
// them all; spare (emptied) becomes the list's storage, so a writer that
// hands back what it took allocates nothing.
func (r *ready) take(ctx context.Context, spare []*Conn) ([]*Conn, bool) {
	for {
		r.mu.Lock()
		if len(r.conns) > 0 {
			out := r.conns
			r.conns = spare[:0]
			r.mu.Unlock()
			return out, true
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			return spare, false
		}
	}
}
