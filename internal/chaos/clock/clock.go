// Package clock is the run's time: every recorded time is an offset from
// the run's start, and every wait of the run ends with its context.
package clock

import (
	"context"
	"time"
)

// Clock tells the time since the run started.
type Clock struct{ start time.Time }

// Start starts the run's clock now.
func Start() Clock { return Clock{start: time.Now()} }

// Now is the time since the run started.
func (c Clock) Now() time.Duration { return time.Since(c.start) }

// Sleep waits d, or less if ctx ends first; it reports whether ctx is still
// live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
