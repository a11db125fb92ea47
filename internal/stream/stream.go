// Package stream writes one client's events to its HTTP response: the
// preamble, history on resume, then live events in batches, one flush each.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
	"ssehub/internal/sse"
)

// maxBatch bounds how many queued events go out in one flush.
const maxBatch = 64

// errClosed says the hub closed the client's queue.
var errClosed = errors.New("client queue closed")

// Stream is one open event stream.
type Stream struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	writeTimeout time.Duration
	retry        time.Duration
	// tagged: every event's data starts with a line naming its topic.
	tagged  bool
	scratch []byte
}

// Open sends the headers, a retry line with jitter and a comment at once,
// so clients see the stream is live before the first event.
func Open(w http.ResponseWriter, retry, writeTimeout time.Duration) (*Stream, error) {
	s := &Stream{w: w, rc: http.NewResponseController(w), writeTimeout: writeTimeout, retry: retry}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	pre := sse.AppendRetry(make([]byte, 0, 32), s.jitteredRetry())
	return s, s.write(sse.AppendComment(pre, "ok"))
}

// jitteredRetry spreads reconnects over [retry, 1.5*retry) so a restart does
// not bring every client back in the same instant.
func (s *Stream) jitteredRetry() int64 {
	return jitteredRetry(s.retry)
}

func jitteredRetry(retry time.Duration) int64 {
	ms := retry.Milliseconds()
	return ms + rand.Int64N(ms/2+1)
}

// TagTopics makes every event that follows name its topic in a first data
// line (sse.AppendTagged), for a client that splits one stream by topic.
func (s *Stream) TagTopics() {
	s.tagged = true
}

// writeEvent writes ev's frame, tagged with its topic if asked.
func (s *Stream) writeEvent(ev *eventlog.Event) error {
	frame := ev.Wire
	if s.tagged && !ev.ID.IsZero() {
		s.scratch = sse.AppendTagged(s.scratch[:0], ev.Wire, ev.Topic)
		frame = s.scratch
	}
	_, err := s.w.Write(frame)
	return err
}

// Reset tells the client that events may be missing before what follows.
func (s *Stream) Reset(reason, lastEventID string) error {
	data, err := json.Marshal(struct {
		Reason      string `json:"reason"`
		LastEventID string `json:"lastEventId"`
	}{reason, lastEventID})
	if err != nil {
		return err
	}
	frame, err := sse.AppendEvent(nil, "", "reset", data)
	if err != nil {
		return err
	}
	return s.write(frame)
}

// Replay writes history events, flushing once per batch.
func (s *Stream) Replay(events []*eventlog.Event) error {
	for len(events) > 0 {
		n := min(len(events), maxBatch)
		if err := s.deadline(); err != nil {
			return err
		}
		for _, ev := range events[:n] {
			if err := s.writeEvent(ev); err != nil {
				return err
			}
		}
		if err := s.rc.Flush(); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// Pump writes the client's queue until the client goes, the hub cuts it off,
// or a write fails. Events at or before `after` are skipped: the client has
// them already. It returns why the stream ended.
func (s *Stream) Pump(ctx context.Context, c *hub.Client, after eventid.ID) hub.Reason {
	queue := c.Events()
	done := ctx.Done()
	for {
		select {
		case ev, ok := <-queue:
			if !ok {
				return s.closed(c)
			}
			err := s.batch(queue, ev, after)
			switch {
			case errors.Is(err, errClosed):
				return s.closed(c)
			case errors.Is(err, os.ErrDeadlineExceeded):
				return hub.ReasonSlow
			case err != nil:
				return hub.ReasonClient
			}
		case <-done:
			return hub.ReasonClient
		}
	}
}

// batch writes first and whatever else is queued, then flushes once.
func (s *Stream) batch(queue <-chan *eventlog.Event, first *eventlog.Event, after eventid.ID) error {
	if err := s.deadline(); err != nil {
		return err
	}
	if err := s.put(first, after); err != nil {
		return err
	}
	var closed error
drain:
	for n := 1; n < maxBatch; n++ {
		select {
		case ev, ok := <-queue:
			if !ok {
				closed = errClosed
				break drain
			}
			if err := s.put(ev, after); err != nil {
				return err
			}
		default:
			break drain
		}
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	return closed
}

// put writes ev unless the client already has it; pings (zero id) always go.
func (s *Stream) put(ev *eventlog.Event, after eventid.ID) error {
	if !ev.ID.IsZero() && !after.Less(ev.ID) {
		return nil
	}
	return s.writeEvent(ev)
}

// closed ends a stream the hub cut off; on shutdown or resync the client is
// told to come back after a jittered delay, so they do not all return at once.
func (s *Stream) closed(c *hub.Client) hub.Reason {
	if r := c.Reason(); r == hub.ReasonShutdown || r == hub.ReasonResync {
		_ = s.write(sse.AppendRetry(nil, s.jitteredRetry()))
	}
	return c.Reason()
}

func (s *Stream) write(b []byte) error {
	if err := s.deadline(); err != nil {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *Stream) deadline() error {
	if s.writeTimeout <= 0 {
		return nil
	}
	return s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
}
