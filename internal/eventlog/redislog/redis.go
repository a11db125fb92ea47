// Package redislog is the event log of scaled-out instances: one Redis
// Stream that every instance appends to and reads back, with the detection
// of events Redis lost (the rules, and what else runs inside Redis, are in
// scripts; where a replay's id stands is in place.go). It implements
// eventlog.Log.
package redislog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/redislog/scripts"
	"ssehub/internal/sse"
)

var _ eventlog.Log = (*Log)(nil)

// Options configure a Redis log.
type Options struct {
	// Prefix namespaces the keys: <Prefix>:events is the stream.
	Prefix string
	Size   int
	MaxAge time.Duration
	// OnUp is told when Redis becomes reachable or unreachable.
	OnUp func(up bool)
	// Replays bounds how many replay reads (XRANGE of one page) run at
	// once; 0 means 2×GOMAXPROCS. A replay holds a slot only while it reads
	// a page, not while the client is written, so a stalled client cannot
	// starve the others.
	Replays int
	// OnLost is told when the reader finds that Redis lost events (a
	// restart without persistence, an older snapshot, FLUSHALL) or trimmed
	// some before the reader read them, so clients can be told instead of
	// seeing a silent gap.
	OnLost func()
}

// Log is the shared log of scaled-out instances: one Redis Stream that
// every instance appends to and reads back, so ids are the stream's ids and
// the same on every instance.
type Log struct {
	rdb  redis.UniversalClient
	opts Options
	keys scripts.Keys

	// start splits the stream: entries after it come live through Run,
	// entries up to it are history only. It is the millisecond before the
	// log was made, so an event published once a client subscribed reaches
	// it even if the reader could not reach Redis yet at that time.
	start eventid.ID

	replays chan struct{} // a semaphore of Replays slots

	// hwm is the highest id this process saw issued (appended, delivered
	// or reported by the stream). It outlives a Redis that lost data, so
	// new ids go above the lost ones and a client holding a lost id is
	// told its history is gone rather than that its id is unknown.
	hwmMu sync.Mutex
	hwm   eventid.ID
	// lostBelow: Redis lost events at or below this id (it restored an
	// older dataset, or lost it all), so a client resuming from an earlier
	// id may miss some of them even when its own id is still in the
	// stream. Guarded by hwmMu; also kept in Redis (keys.Lost).
	lostBelow eventid.ID

	up       atomic.Bool
	upMu     sync.Mutex // orders OnUp calls
	reported bool       // OnUp was called once; guarded by upMu
}

// New returns a log on rdb; the caller owns rdb and closes it.
func New(rdb redis.UniversalClient, opts Options) *Log {
	if opts.Replays <= 0 {
		opts.Replays = 2 * runtime.GOMAXPROCS(0)
	}
	return &Log{
		replays: make(chan struct{}, opts.Replays),
		rdb:     rdb,
		opts:    opts,
		keys:    scripts.NewKeys(opts.Prefix),
		start:   eventid.ID{Ms: uint64(time.Now().UnixMilli() - 1)},
	}
}

// Up reports whether the reader reached Redis on its last try.
func (l *Log) Up() bool {
	return l.up.Load()
}

// Append adds m to the stream; the reader of every instance delivers it.
func (l *Log) Append(ctx context.Context, m event.Message) (eventid.ID, bool, error) {
	// Reject what the reader could not encode before it reaches the stream.
	if err := sse.CheckField(m.Type); err != nil {
		return eventid.ID{}, false, err
	}
	id, dup, err := scripts.Append(ctx, l.rdb, l.keys, scripts.AppendArgs{
		Message: m, Size: l.opts.Size, MaxAge: l.opts.MaxAge, HighWater: l.highWater(),
	})
	if err != nil {
		return eventid.ID{}, false, err
	}
	l.raise(id)
	return id, dup, nil
}

// issuedSkew is how far the clock of Redis, which makes the ids, may run
// ahead of this process's clock.
const issuedSkew = time.Second

// Issued reports whether id is at or below the high-water mark, or not
// later than the clock: another instance may have issued it before this
// one's reader delivered it.
func (l *Log) Issued(id eventid.ID) bool {
	return !l.highWater().Less(id) || id.Ms <= uint64(time.Now().Add(issuedSkew).UnixMilli())
}

// raise lifts the high-water mark to id.
func (l *Log) raise(id eventid.ID) {
	l.hwmMu.Lock()
	if l.hwm.Less(id) {
		l.hwm = id
	}
	l.hwmMu.Unlock()
}

func (l *Log) highWater() eventid.ID {
	l.hwmMu.Lock()
	defer l.hwmMu.Unlock()
	return l.hwm
}

// Replay reads the matching entries in (after, upto], PageSize at a time,
// and hands each page to page before reading the next. upto is raised to
// start: entries up to it never come live on this instance. A client id
// later than upto but within the stream was issued by another instance; it
// is Known, and the stream writer skips live events up to it.
func (l *Log) Replay(ctx context.Context, after, upto eventid.ID, match func(string) bool,
	start func(eventlog.Position) error, page func([]*event.Event) error) error {
	if upto.Less(l.start) {
		upto = l.start
	}
	pl, err := l.place(ctx, after)
	if err != nil {
		return err
	}
	// from is the first id the client wants (see replayRange for guard).
	// A client whose id was lost gets what the stream holds after it.
	from, guard := after.Next(), true
	switch {
	case pl.pos == eventlog.Unknown:
		return start(eventlog.Unknown)
	case pl.info == nil || pl.info.Length == 0:
		// Nothing was retained: whatever the stream holds now is newer.
		guard = false
	case from.Less(pl.info.First):
		from = pl.info.First
	}
	if err := start(pl.pos); err != nil {
		return err
	}
	if pl.pos == eventlog.Gone && from.Less(pl.lost) {
		// Below the mark there may be several holes (one per loss); what
		// follows the reset must be whole, so it starts at the mark.
		from = pl.lost
	}
	return l.replayRange(ctx, from, upto, guard, pl.mark, match, page)
}

// replayRange pages the matching entries in [from, upto]. guard says every
// retained entry from `from` on is wanted, so a first retained entry past it
// means trimming took some.
func (l *Log) replayRange(ctx context.Context, from, upto eventid.ID, guard bool, mark string,
	match func(string) bool, page func([]*event.Event) error) error {
	events := make([]*event.Event, 0, eventlog.PageSize)
	for !upto.Less(from) {
		msgs, err := l.replayPage(ctx, scripts.PageArgs{From: from, Upto: upto, Mark: mark, Guard: guard})
		if err != nil {
			return err
		}
		clear(events)
		events = events[:0]
		for _, msg := range msgs {
			ev, err := scripts.Entry(msg)
			if err != nil {
				return err
			}
			if match(ev.Topic) {
				events = append(events, ev)
			}
			from = ev.ID.Next()
		}
		if len(events) > 0 {
			if err := page(events); err != nil {
				return err
			}
		}
		if len(msgs) < eventlog.PageSize {
			return nil
		}
		guard = true
	}
	return nil
}

// Waits of a resume while Redis does not answer.
const (
	// placeWait bounds how long a resume waits for Redis before its client
	// is reset as history-unavailable. Redis restarts in about a second,
	// and once PoolSize dials have failed, go-redis fails every command at
	// once until its probe, once a second, reaches Redis again: without the
	// wait, each client resuming in that second would be reset although
	// Redis has its history (make chaos seed 20261206).
	placeWait = 2 * time.Second
	// placeRetry is the first pause between tries; it doubles up to
	// placeRetryMax, so a long outage costs each resume a few cheap tries.
	placeRetry    = 50 * time.Millisecond
	placeRetryMax = 400 * time.Millisecond
)

// place finds where after stands, trying again for up to placeWait while
// Redis does not answer.
func (l *Log) place(ctx context.Context, after eventid.ID) (placement, error) {
	deadline := time.Now().Add(placeWait)
	for pause := placeRetry; ; pause = min(2*pause, placeRetryMax) {
		pl, err := l.placeOnce(ctx, after)
		if !errors.Is(err, eventlog.ErrUnavailable) || time.Now().Add(pause).After(deadline) || !sleep(ctx, pause) {
			return pl, err
		}
	}
}

// placeOnce takes a replay slot to find where after stands.
func (l *Log) placeOnce(ctx context.Context, after eventid.ID) (placement, error) {
	if err := l.acquire(ctx); err != nil {
		return placement{pos: eventlog.Unknown}, err
	}
	defer l.release()
	return l.position(ctx, after)
}

// replayPage reads one page in a replay slot, with this process's
// high-water mark.
func (l *Log) replayPage(ctx context.Context, a scripts.PageArgs) ([]redis.XMessage, error) {
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	defer l.release()
	a.HighWater = l.highWater()
	return scripts.Page(ctx, l.rdb, l.keys, a)
}

// acquire waits for a replay slot or for ctx to end.
func (l *Log) acquire(ctx context.Context) error {
	select {
	case l.replays <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("replay %s: waiting for a slot: %w", l.keys.Stream, ctx.Err())
	}
}

func (l *Log) release() {
	<-l.replays
}

// setUp records reachability and tells OnUp about changes only.
func (l *Log) setUp(up bool) {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	if l.reported && l.up.Load() == up {
		return
	}
	l.reported = true
	l.up.Store(up)
	if l.opts.OnUp != nil {
		l.opts.OnUp(up)
	}
}
