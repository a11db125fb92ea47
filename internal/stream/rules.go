package stream

import (
	"time"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/hub"
	"ssehub/internal/sse"
)

// The writer's rules, shared by both transports (a goroutine per stream
// through net/http, and the pool's taken-over descriptors): what goes into a
// batch, when there is more to do, and how a stream ends on the wire.

// maxBatch bounds how many queued frames go out in one write.
const maxBatch = 64

// batch appends to buf the frames queued for one client, up to maxBatch,
// skipping events at or before after (the client has them; pings, with a
// zero id, always go), each naming its topic first if tagged. closed says
// the hub closed the queue: the stream must end. full says batch stopped at
// maxBatch, so more may be queued, a closed queue included: the writer must
// look again rather than wait for a signal.
func batch(buf []byte, queue <-chan *event.Event, after eventid.ID, tagged bool) (out []byte, closed, full bool) {
	for range maxBatch {
		select {
		case ev, ok := <-queue:
			if !ok {
				return buf, true, false
			}
			buf = appendFrame(buf, ev, after, tagged)
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

// appendFrame appends ev unless the client already has it; tagged, with a
// first data line naming its topic (sse.AppendTagged), for a client that
// asked with withTopic=1.
func appendFrame(buf []byte, ev *event.Event, after eventid.ID, tagged bool) []byte {
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

// ending is how a stream ends: why, and whether the connection is reset
// instead of getting a last frame.
type ending struct {
	reason hub.Reason
	// abort: the client stopped reading, so a last frame would never reach
	// it; resetting the connection frees its socket's kernel memory at once,
	// and the client recovers with Last-Event-ID.
	abort bool
}

// stalled ends a client that made no write progress for the write timeout.
var stalled = ending{reason: hub.ReasonSlow, abort: true}

// farewell appends the last frame of a stream that ends for e: whom the hub
// sends away all at once (shutdown, resync) is told to come back after a
// jittered delay, so they do not all return in the same instant.
func farewell(buf []byte, e ending, retry time.Duration) []byte {
	if e.reason == hub.ReasonShutdown || e.reason == hub.ReasonResync {
		buf = sse.AppendRetry(buf, jitteredRetry(retry))
	}
	return buf
}
