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

// NewRate returns perSecond events per key with bursts of burst, for at most
// maxKeys keys at once; perSecond 0 means no limit (nil).
func NewRate(name string, perSecond float64, burst, maxKeys int) (*Rate, error) {
	if perSecond <= 0 {
		return nil, nil
	}
	burst = max(burst, 1)
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	idle := max(minIdle, refill)
	cache, err := collection.NewCache(idle, collection.WithLimit(maxKeys), collection.WithName(name))
	if err != nil {
		return nil, fmt.Errorf("rate limiter %s: %w", name, err)
	}
	return &Rate{limit: rate.Limit(perSecond), burst: burst, idle: idle, cache: cache}, nil
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
