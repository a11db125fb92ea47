// Package ticker publishes the "tick" topic: one ordinary, replayable event
// per interval.
package ticker

import (
	"context"
	"strconv"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/event"
)

// Topic and Type of tick events.
const (
	Topic = "tick"
	Type  = "tick"
)

// Publisher appends an event to the hub's log.
type Publisher func(ctx context.Context, m event.Message) error

// Options configure the ticker.
type Options struct {
	Every   time.Duration
	Publish Publisher
	// Lease, shared with the other instances, decides who ticks and
	// counts seq; nil ticks alone.
	Lease Lease
}

// Run publishes a tick every interval until ctx ends: alone, seq counting
// from 1, or under o.Lease (runShared).
func Run(ctx context.Context, o Options) {
	if o.Lease != nil {
		runShared(ctx, o.Every, o.Lease, o.Publish)
		return
	}
	runAlone(ctx, o.Every, o.Publish)
}

func runAlone(ctx context.Context, every time.Duration, publish Publisher) {
	t := time.NewTicker(every)
	defer t.Stop()
	var seq uint64
	for {
		select {
		case now := <-t.C:
			seq++
			if err := publish(ctx, Message(now, seq)); err != nil {
				logx.WithContext(ctx).Errorw("tick not published", logx.Field("seq", seq), logx.Field("error", err.Error()))
			}
		case <-ctx.Done():
			return
		}
	}
}

// Message is the tick event for seq at now: {"time":"<RFC3339Nano>","seq":n}.
func Message(now time.Time, seq uint64) event.Message {
	data := make([]byte, 0, 64)
	data = append(data, `{"time":"`...)
	data = now.UTC().AppendFormat(data, time.RFC3339Nano)
	data = append(data, `","seq":`...)
	data = strconv.AppendUint(data, seq, 10)
	data = append(data, '}')
	return event.Message{Topic: Topic, Type: Type, Data: data}
}
