package resources

import (
	"context"
	"fmt"
	"sync"
	"time"

	"ssehub/internal/chaos/clock"
	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/servers"
)

// Tracker keeps each instance's resources over the run: the baseline of
// its current process, the orphaned sockets seen, and the reading after
// the clients.
type Tracker struct {
	clock     clock.Clock
	redisPort int // 0 without Redis
	bounds    history.Bounds

	mu      sync.Mutex
	current map[int]*history.Resources // by instance: the current process's baseline
	retired []history.Resources        // earlier processes, for their orphans only
	killed  map[int][]history.Interval // by instance: when a SIGKILL left sockets to the kernel
}

// NewTracker tracks the instances of a run whose Redis (if any) listens on
// redisPort (the instances' connections to it are not counted), waiting
// after the run for what b tolerates.
func NewTracker(clk clock.Clock, redisPort int, b history.Bounds) *Tracker {
	return &Tracker{clock: clk, redisPort: redisPort, bounds: b, current: map[int]*history.Resources{}, killed: map[int][]history.Interval{}}
}

// Baseline takes the resources of in's new process before any client may
// use it; the previous process's orphans still count.
func (t *Tracker) Baseline(ctx context.Context, in *servers.Instance) error {
	before, err := sample(ctx, in, t.redisPort)
	if err != nil {
		return fmt.Errorf("baseline of instance %d: %w", in.Index(), err)
	}
	before.At = t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.current[in.Index()]; old != nil && old.MaxOrphan > 0 {
		t.retired = append(t.retired, *old)
	}
	t.current[in.Index()] = &history.Resources{Instance: in.Index(), Incarnation: in.Incarnation(), Before: before}
	return nil
}

// Killed records that during iv the kernel, not the server, closed the
// sockets of instance idx.
func (t *Tracker) Killed(idx int, iv history.Interval) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.killed[idx] = append(t.killed[idx], iv)
}

// WatchOrphans watches, twice a second until ctx ends, the sockets each
// instance has closed but the kernel still holds data for. One that holds
// as much or more in the next sample counts: nobody reads it and the server
// did not reset it (a socket being reset is gone by then, one a client
// drains shrinks). Right after a SIGKILL the kernel closed everything:
// excused.
func (t *Tracker) WatchOrphans(ctx context.Context, instances []*servers.Instance) {
	prev := map[int]map[orphanKey]seen{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		socks, err := readTCP()
		if err != nil {
			continue
		}
		now := t.clock.Now()
		for _, in := range instances {
			prev[in.Index()] = t.orphansOf(in, prev[in.Index()], socks, now)
		}
	}
}

// seen is an orphaned socket as last sampled.
type seen struct {
	bytes int64
	inc   int // the process that had the socket when it was first seen
}

// orphansOf samples in's orphaned sockets, raises its MaxOrphan by those
// that did not drain since prev, and returns the sample.
func (t *Tracker) orphansOf(in *servers.Instance, prev map[orphanKey]seen, socks []tcpSock, now time.Duration) map[orphanKey]seen {
	cur := map[orphanKey]seen{}
	inc := in.Incarnation()
	t.mu.Lock()
	defer t.mu.Unlock()
	excused := false
	for _, k := range t.killed[in.Index()] {
		excused = excused || (now >= k.From && now <= k.To)
	}
	res := t.current[in.Index()]
	for k, q := range orphans(socks, in.Port()) {
		p, ok := prev[k]
		if !ok {
			p = seen{bytes: q, inc: inc}
		}
		cur[k] = seen{bytes: q, inc: p.inc}
		// draining means a client is reading it: memory in use, not pinned
		if ok && q >= p.bytes && !excused && p.inc == res.Incarnation && q > res.MaxOrphan {
			res.MaxOrphan, res.OrphanAt = q, now
		}
	}
	return cur
}

// MeasureAfter waits (bounded) for each instance's resources to return to
// their baseline, then records them: the check compares both.
func (t *Tracker) MeasureAfter(ctx context.Context, instances []*servers.Instance) {
	deadline := time.Now().Add(15 * time.Second)
	for _, in := range instances {
		t.mu.Lock()
		res := t.current[in.Index()]
		t.mu.Unlock()
		t.settle(ctx, in, res, deadline)
	}
}

// settle samples in until it is within res's baseline or the deadline
// passed, keeping the last good sample as res.After.
func (t *Tracker) settle(ctx context.Context, in *servers.Instance, res *history.Resources, deadline time.Time) {
	for {
		after, err := sample(ctx, in, t.redisPort)
		after.At = t.clock.Now()
		if err == nil {
			res.After = after
		}
		if err == nil && withinBaseline(res.Before, after, t.bounds) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		clock.Sleep(ctx, 200*time.Millisecond)
	}
}

// withinBaseline applies the tolerances of the leak rule: what the check
// would accept needs no more waiting.
func withinBaseline(before, after history.Sample, b history.Bounds) bool {
	return after.FDs <= before.FDs+b.FDSlack && after.Goroutines <= before.Goroutines+b.GoroutineSlack &&
		after.Sockets <= before.Sockets+2 && after.Queued <= before.Queued+b.QueueSlack
}

// Results are every process's resources: the retired ones (for their
// orphans), then each instance's current one in order.
func (t *Tracker) Results() []history.Resources {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]history.Resources(nil), t.retired...)
	for i := range len(t.current) {
		out = append(out, *t.current[i])
	}
	return out
}
