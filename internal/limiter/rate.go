package limiter

import (
	"fmt"
	"time"

	"github.com/zeromicro/go-zero/core/collection"
	"golang.org/x/time/rate"
)

// minIdle is the shortest time a key's limiter is kept after its last use.
const minIdle = time.Minute

// Rate is a token bucket per key. Limiters live in a bounded LRU cache and
// expire after an idle time long enough to refill the bucket, so dropping one
// loses nothing. A nil Rate allows everything.
type Rate struct {
	limit rate.Limit
	burst int
	idle  time.Duration
	cache *collection.Cache
}

// RateOptions configure a Rate.
type RateOptions struct {
	// Name names the limiter in go-zero's cache statistics and errors.
	Name string
	// PerSecond is the sustained rate per key; 0 means no limit.
	PerSecond float64
	// Burst is how many events a key may take at once; at least 1.
	Burst int
	// MaxKeys bounds the keys tracked at once.
	MaxKeys int
}

// NewRate returns a per-key limiter, or nil when o.PerSecond is 0 (no limit).
func NewRate(o RateOptions) (*Rate, error) {
	if o.PerSecond <= 0 {
		return nil, nil
	}
	burst := max(o.Burst, 1)
	refill := time.Duration(float64(burst) / o.PerSecond * float64(time.Second))
	idle := max(minIdle, refill)
	cache, err := collection.NewCache(idle, collection.WithLimit(o.MaxKeys), collection.WithName(o.Name))
	if err != nil {
		return nil, fmt.Errorf("rate limiter %s: %w", o.Name, err)
	}
	return &Rate{limit: rate.Limit(o.PerSecond), burst: burst, idle: idle, cache: cache}, nil
}

// Allow takes one event from key's bucket; false when it is empty.
func (r *Rate) Allow(key string) bool {
	if r == nil {
		return true
	}
	v, err := r.cache.Take(key, func() (any, error) {
		return rate.NewLimiter(r.limit, r.burst), nil
	})
	if err != nil {
		return true
	}
	// Set again so the idle timer restarts: a busy key keeps its bucket.
	r.cache.Set(key, v)
	return v.(*rate.Limiter).Allow()
}

// RetryAfter is how long an empty bucket takes to hold one event again.
func (r *Rate) RetryAfter() time.Duration {
	return max(time.Second, time.Duration(float64(time.Second)/float64(r.limit)))
}
