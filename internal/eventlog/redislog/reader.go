package redislog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog/redislog/scripts"
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
	l       *Log
	deliver func(*event.Event)
	checked bool       // the stream was checked since the last error
	pos     eventid.ID // where the next XREAD starts
	seen    eventid.ID // the last entry delivered, zero before the first
	epoch   string     // the dataset marker at the last check, "" before it
	lost    string     // the lost mark at the last check
	// reported: the high-water mark when the reader last reported a loss;
	// until it moves, its being lost is that loss, not a new one.
	reported eventid.ID
}

// Run is the instance's one reader: it hands every entry after the log's
// start to deliver, in stream order. On an error it reports
// Redis down, retries with backoff and resumes from its last id, so every
// entry that reached the stream is delivered once Redis is back.
func (l *Log) Run(ctx context.Context, deliver func(*event.Event)) error {
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

func (r *reader) step(ctx context.Context) error {
	if !r.checked {
		if err := r.verify(ctx); err != nil {
			return err
		}
		r.checked = true
		r.l.setUp(true)
	}
	res, err := r.l.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{r.l.keys.Stream, r.pos.String()},
		Count:   readCount,
		Block:   readBlock,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s after %s: %w", r.l.keys.Stream, r.pos, err)
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
			r.handle(msg)
		}
	}
	return nil
}

// handle delivers one entry and moves the reader past it.
func (r *reader) handle(msg redis.XMessage) {
	ev, err := scripts.Entry(msg)
	if err != nil {
		// Append checks what it writes; an entry written by something
		// else is skipped rather than stopping delivery.
		logx.Errorw("redis entry skipped", logx.Field("id", msg.ID), logx.Field("error", err.Error()))
		if id, perr := eventid.Parse(msg.ID); perr == nil {
			r.pos = id
			r.l.raise(id)
		}
		return
	}
	r.deliver(ev)
	r.pos, r.seen = ev.ID, ev.ID
	r.l.raise(ev.ID)
}

// verify runs checkScript and, when Redis lost entries since the reader
// last looked (or trimmed delivered ones, or another instance found a
// loss), calls OnLost before anything of the new dataset is delivered. The
// first check, after the start, only notes the epoch and the mark.
func (r *reader) verify(ctx context.Context) error {
	hw := r.l.highWater()
	check := hw
	if hw == r.reported {
		check = eventid.ID{} // its loss was reported already
	}
	found, err := scripts.Check(ctx, r.l.rdb, r.l.keys, scripts.CheckArgs{
		Epoch: r.epoch, Seen: r.seen, Mark: r.lost, HighWater: check,
	})
	if err != nil || found.Unchanged {
		return err
	}
	first := r.epoch == ""
	r.epoch, r.lost = found.Epoch, found.Mark
	r.l.lostMark(r.lost)
	if first {
		return nil
	}
	logx.Errorw("redis lost events: every client is told to resume", logx.Field("position", r.pos.String()),
		logx.Field("delivered", r.seen.String()), logx.Field("lostMark", r.lost))
	r.seen, r.reported = eventid.ID{}, hw
	// Read what Redis holds now that is not delivered yet: an empty stream
	// from its beginning, an older snapshot from its end.
	if id, err := eventid.Parse(found.Last); err != nil {
		r.pos = eventid.ID{}
	} else if id.Less(r.pos) {
		r.pos = id
	}
	if r.l.opts.OnLost != nil {
		r.l.opts.OnLost()
	}
	return nil
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
