// Package writer is the writer's rule set, shared by both transports (a
// goroutine per stream through net/http, internal/stream, and the pool's
// taken-over descriptors, internal/pool): what goes into a batch, when a
// lagging client catches up from the log, and how a stream ends on the wire:
// with a last frame, or a reset (internal/socket closes it either way).
package writer

import (
	"errors"
	"math/rand/v2"
	"os"
	"time"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/hub"
	"ssehub/internal/sse"
)

// MaxBatch bounds how many queued frames go out in one write.
const MaxBatch = 64

// Batch appends to buf the frames queued for one client, up to MaxBatch,
// skipping events at or before after (the client has them; pings, with a
// zero id, always go), each naming its topic first if tagged. closed says
// the hub closed the queue: the stream must end. full says batch stopped at
// MaxBatch, so more may be queued, a closed queue included: the writer must
// look again rather than wait for a signal.
func Batch(buf []byte, queue <-chan *event.Event, after eventid.ID, tagged bool) (out []byte, closed, full bool) {
	for range MaxBatch {
		select {
		case ev, ok := <-queue:
			if !ok {
				return buf, true, false
			}
			buf = AppendFrame(buf, ev, after, tagged)
		default:
			return buf, false, false
		}
	}
	return buf, false, true
}

// The catch-up rule, which both writers follow for a client the hub took out
// of fan-out (hub.Client.Lagging): catch up from the log only once the
// queue is empty after the lag was seen. The hub queues nothing more for a
// lagging client, so an empty queue then holds nothing the catch-up would
// overtake; a queue seen empty before the lag may have filled since (the
// burst that made it lag), and catching up first would put those events
// after later ones. Stream.Pump reads Lagging, then the queue's length; the
// pool reads Lagging before the batch that empties the queue.

// AppendFrame appends ev unless the client already has it; tagged, with a
// first data line naming its topic (sse.AppendTagged), for a client that
// asked with withTopic=1.
func AppendFrame(buf []byte, ev *event.Event, after eventid.ID, tagged bool) []byte {
	switch {
	case ev.ID.IsZero(): // a ping
		return append(buf, ev.Wire...)
	case !after.Less(ev.ID):
		return buf
	case tagged:
		return sse.AppendTagged(buf, ev.Wire, ev.Topic)
	default:
		return append(buf, ev.Wire...)
	}
}

// Ending is how a stream ends: why, and whether the connection is reset
// instead of getting a last frame.
type Ending struct {
	Reason hub.Reason
	// Abort: the client stopped reading, so a last frame would never reach
	// it; resetting the connection frees its socket's kernel memory at once,
	// and the client recovers with Last-Event-ID.
	Abort bool
}

// Stalled ends a client that made no write progress for the write timeout.
var Stalled = Ending{Reason: hub.ReasonSlow, Abort: true}

// JitteredRetry spreads reconnects over [retry, 1.5*retry) so a restart does
// not bring every client back in the same instant.
func JitteredRetry(retry time.Duration) int64 {
	ms := retry.Milliseconds()
	return ms + rand.Int64N(ms/2+1)
}

// Farewell appends the last frame of a stream that ends for e: whom the hub
// sends away all at once (shutdown, resync) is told to come back after a
// jittered delay, so they do not all return in the same instant.
func Farewell(buf []byte, e Ending, retry time.Duration) []byte {
	if e.Reason == hub.ReasonShutdown || e.Reason == hub.ReasonResync {
		buf = sse.AppendRetry(buf, JitteredRetry(retry))
	}
	return buf
}

// WriteEnding says how a stream whose write failed ends: one that took
// nothing for the write timeout is Stalled, any other failure means the
// client went.
func WriteEnding(err error) Ending {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return Stalled
	}
	return Ending{Reason: hub.ReasonClient}
}
