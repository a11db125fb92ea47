package eventlog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
)

const (
	// readBlock is how long one XREAD waits for new entries.
	readBlock = 2 * time.Second
	// readCount bounds the entries one XREAD returns.
	readCount = 512
	// Reconnect backoff doubles from minBackoff up to maxBackoff.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// reader is the state of the one XREAD loop of an instance.
type reader struct {
	l       *Redis
	deliver func(*event.Event)
	started bool
	checked bool       // the stream was inspected since the last error
	pos     eventid.ID // where the next XREAD starts
	seen    eventid.ID // the last entry delivered, zero before the first
	epoch   string     // the dataset marker seen at the last check
}

// Run is the instance's one reader: it hands every entry after the log's
// start to deliver, in stream order. On an error it reports
// Redis down, retries with backoff and resumes from its last id, so every
// entry that reached the stream is delivered once Redis is back.
func (l *Redis) Run(ctx context.Context, deliver func(*event.Event)) error {
	r := &reader{l: l, deliver: deliver, pos: l.start}
	var backoff time.Duration
	for ctx.Err() == nil {
		err := r.step(ctx)
		if err == nil {
			if backoff > 0 {
				logx.Infow("redis reader resumed", logx.Field("position", r.pos.String()))
			}
			backoff = 0
			continue
		}
		if ctx.Err() != nil {
			break
		}
		l.setUp(false)
		r.checked = false
		if backoff == 0 {
			// Once per outage; retries are quiet until it resumes.
			logx.Errorw("redis reader", logx.Field("error", err.Error()), logx.Field("position", r.pos.String()))
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		if !sleep(ctx, backoff) {
			break
		}
	}
	return nil
}

// intactScript answers 1 if the dataset is the one the reader last looked
// at: the epoch marker is unchanged and the last delivered entry is still in
// the stream (or none was delivered yet). Only the answer crosses the wire.
var intactScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '0-0' then
  return 1
end
return #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
`)

func (r *reader) step(ctx context.Context) error {
	if !r.checked {
		if err := r.check(ctx); err != nil {
			return err
		}
		r.checked = true
		r.l.setUp(true)
	}
	res, err := r.l.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{r.l.stream, r.pos.String()},
		Count:   readCount,
		Block:   readBlock,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s after %s: %w", r.l.stream, r.pos, err)
	}
	// A dataset lost without a dropped connection (FLUSHALL) is found
	// before anything of the new one is delivered. If that moved the
	// reader back, the next read starts from there instead.
	from := r.pos
	if err := r.verify(ctx); err != nil || r.pos != from {
		return err
	}
	for _, s := range res {
		for _, msg := range s.Messages {
			ev, err := entryEvent(msg)
			if err != nil {
				// Append checks what it writes; an entry written by
				// something else is skipped rather than stopping delivery.
				logx.Errorw("redis entry skipped", logx.Field("id", msg.ID), logx.Field("error", err.Error()))
				if id, perr := eventid.Parse(msg.ID); perr == nil {
					r.pos = id
					r.l.raise(id)
				}
				continue
			}
			r.deliver(ev)
			r.pos, r.seen = ev.ID, ev.ID
			r.l.raise(ev.ID)
		}
	}
	return nil
}

// check inspects Redis before reading: the first time it notes the dataset
// marker; after an error it finds out whether Redis lost entries while the
// reader was away.
func (r *reader) check(ctx context.Context) error {
	if !r.started {
		epoch, err := r.l.currentEpoch(ctx)
		if err != nil {
			return err
		}
		r.started, r.epoch = true, epoch
		return nil
	}
	return r.verify(ctx)
}

// verify finds out whether Redis lost entries since the reader last looked
// and, if so, calls OnLost. Lost means the dataset marker changed (a restart
// without data, FLUSHALL) or the last delivered entry left the stream: a
// restore from an older snapshot keeps the marker but not that entry,
// whatever was appended since; an entry trimmed before the reader read on
// may have taken undelivered ones with it.
func (r *reader) verify(ctx context.Context) error {
	intact, err := intactScript.Run(ctx, r.l.rdb, []string{r.l.stream, r.l.epoch}, r.epoch, r.seen.String()).Int()
	if err != nil {
		return fmt.Errorf("check %s at %s: %w", r.l.stream, r.seen, err)
	}
	if intact == 1 {
		return nil
	}
	epoch, err := r.l.currentEpoch(ctx)
	if err != nil {
		return err
	}
	info, err := r.l.info(ctx)
	if err != nil {
		return err
	}
	logx.Errorw("redis lost events: every client is told to resume", logx.Field("position", r.pos.String()),
		logx.Field("delivered", r.seen.String()))
	// Before the clients come back: a client whose id survived may still
	// have lost successors. An entry trimmed before the reader got to it is
	// no hole in the stream, only in what this reader delivered.
	if epoch != r.epoch || info == nil || info.last.Less(r.l.highWater()) {
		if err := r.l.markLost(ctx); err != nil {
			return err
		}
	}
	r.epoch, r.seen = epoch, eventid.ID{}
	// Read what Redis holds now that is not delivered yet: an empty stream
	// from its beginning, an older snapshot from its end.
	switch {
	case info == nil:
		r.pos = eventid.ID{}
	case info.last.Less(r.pos):
		r.pos = info.last
	}
	if r.l.opts.OnLost != nil {
		r.l.opts.OnLost()
	}
	return nil
}

// currentEpoch returns the marker of the Redis dataset, creating it if
// missing. A dataset that Redis lost (a restart without persistence) comes
// back without it, so a changed marker means entries may be missing.
func (l *Redis) currentEpoch(ctx context.Context) (string, error) {
	fresh := rand.Text()
	old, err := l.rdb.SetArgs(ctx, l.epoch, fresh, redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fresh, nil
	case err != nil:
		return "", fmt.Errorf("%w: epoch %s: %w", ErrUnavailable, l.epoch, err)
	}
	return old, nil
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
