// Package limiter holds the per-client limits: concurrent streams per key
// (an IP) and a request rate per key (a token, or an IP).
package limiter

import "sync"

// Counter caps how many things one key holds at a time. A nil Counter
// allows everything.
type Counter struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// NewCounter returns a cap of max per key; max 0 means no cap (nil).
func NewCounter(max int) *Counter {
	if max <= 0 {
		return nil
	}
	return &Counter{max: max, n: make(map[string]int)}
}

// Acquire takes one slot for key; false when key holds max already.
func (c *Counter) Acquire(key string) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		return false
	}
	c.n[key]++
	return true
}

// Release gives back a slot taken by Acquire; keys at zero are dropped, so
// the map only holds keys with open streams.
func (c *Counter) Release(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] <= 1 {
		delete(c.n, key)
		return
	}
	c.n[key]--
}
