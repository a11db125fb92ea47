package server

import (
	"context"
	"fmt"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/threading"
)

// component is one part of a running server. The lifecycle starts the
// components in order; stopping drains them in reverse, then stops them in
// reverse, all by one deadline.
type component struct {
	name string
	// start, if set, begins the work (on its own goroutine if it lasts)
	// and returns once the component serves.
	start func() error
	// drain, if set, ends the work gracefully, by ctx's deadline.
	drain func(ctx context.Context)
	// stop, if set, ends what is left; it waits at most until ctx's deadline.
	stop func(ctx context.Context)
}

// lifecycle runs components: start in order, drain and stop in reverse.
type lifecycle struct {
	parts   []component
	started int
}

// start starts every component in order; on an error, the ones already
// started are left for stop.
func (l *lifecycle) start() error {
	for _, c := range l.parts {
		if c.start != nil {
			if err := c.start(); err != nil {
				return fmt.Errorf("start %s: %w", c.name, err)
			}
		}
		l.started++
	}
	return nil
}

// stop drains, then stops, the started components in reverse order.
func (l *lifecycle) stop(ctx context.Context) {
	for i := l.started - 1; i >= 0; i-- {
		if c := l.parts[i]; c.drain != nil {
			c.drain(ctx)
		}
	}
	for i := l.started - 1; i >= 0; i-- {
		if c := l.parts[i]; c.stop != nil {
			c.stop(ctx)
		}
	}
}

// background is a component whose work is run, on its own goroutine, until
// stop cancels its context.
func background(name string, run func(ctx context.Context)) component {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	return component{
		name: name,
		start: func() error {
			threading.GoSafe(func() {
				defer close(done)
				run(ctx)
			})
			return nil
		},
		stop: func(wait context.Context) {
			cancel()
			select {
			case <-done:
			case <-wait.Done():
				logx.Errorw("component still running at the shutdown deadline", logx.Field("component", name))
			}
		},
	}
}
