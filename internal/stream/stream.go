// Package stream writes one client's stream through net/http, on its
// handler's goroutine: the preamble, history on resume, then live events in
// batches, following the writer's rules (internal/writer). Streams the pool
// takes over (internal/pool) leave it after their history.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/hub"
	"ssehub/internal/socket"
	"ssehub/internal/sse"
	"ssehub/internal/writer"
)

// Stream is one open event stream written by its handler's goroutine.
type Stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// raw is the connection when it carries only this stream (HTTP/1), for
	// an abortive close; nil on HTTP/2.
	raw          net.Conn
	writeTimeout time.Duration
	retry        time.Duration
	buf          []byte
	// tagged: every event's data starts with a line naming its topic.
	tagged bool
	frame  []byte
}

// CatchUp is where a lagging client catches up from: the hub it rejoins and
// the log it reads what it missed from.
type CatchUp struct {
	Hub *hub.Hub
	Log writer.History
}

// Open sends the headers, a retry line with jitter and a comment at once,
// so clients see the stream is live before the first event.
func Open(w http.ResponseWriter, r *http.Request, retry, writeTimeout time.Duration) (*Stream, error) {
	s := &Stream{w: w, rc: http.NewResponseController(w), writeTimeout: writeTimeout, retry: retry}
	if r.ProtoMajor == 1 {
		s.raw = socket.ConnOf(r.Context())
		// net/http closes a connection whose write failed itself, with a
		// FIN, before a stalled write returns here; so while this stream
		// is written, that close resets, as the stall rule wants. A clean
		// end (end, or the pool taking the stream over) turns it back.
		socket.Abortive(s.raw, true)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	pre := sse.AppendRetry(make([]byte, 0, 32), writer.JitteredRetry(retry))
	return s, s.write(sse.AppendComment(pre, "ok"))
}

// TagTopics makes every event that follows name its topic in a first data
// line (sse.AppendTagged), for a client that splits one stream by topic.
func (s *Stream) TagTopics() {
	s.tagged = true
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

// Replay writes one page of history and flushes it.
func (s *Stream) Replay(events []*event.Event) error {
	return writer.WritePage(sink{s}, events, eventid.ID{}, s.tagged, &s.frame)
}

// Pump writes the client's queue until the stream ends, ends it on the wire
// and returns why: the client went (ctx), the hub cut it off, a write failed
// or stalled, or catching up from the log failed. Events at or before after
// are skipped: the client has them already.
func (s *Stream) Pump(ctx context.Context, c *hub.Client, after eventid.ID, cu CatchUp) hub.Reason {
	queue := c.Events()
	for {
		if from, ok := c.Lagging(); ok && len(queue) == 0 { // the catch-up rule (internal/writer)
			if err := writer.CatchUp(ctx, cu.Hub, cu.Log, c, from, after, s.tagged, sink{s}); err != nil {
				return s.end(writer.FailureEnding(err))
			}
			continue
		}
		select {
		case ev, ok := <-queue:
			if !ok {
				return s.end(writer.Ending{Reason: c.Reason()})
			}
			var closed bool
			s.buf, closed, _ = writer.Batch(writer.AppendFrame(s.buf[:0], ev, after, s.tagged), queue, after, s.tagged)
			if err := s.write(s.buf); err != nil {
				return s.end(writer.WriteEnding(err))
			}
			if closed {
				return s.end(writer.Ending{Reason: c.Reason()})
			}
		case <-c.Lagged():
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return s.end(writer.Ending{Reason: hub.ReasonAuth})
			}
			return hub.ReasonClient
		}
	}
}

// end ends the stream on the wire: its last frame (the body's end follows
// when the handler returns) or, for a client that stopped reading, a reset
// of its connection.
func (s *Stream) end(e writer.Ending) hub.Reason {
	if e.Abort && s.raw != nil {
		socket.Abort(s.raw)
		return e.Reason
	}
	if last := writer.Farewell(nil, e, s.retry); len(last) > 0 {
		_ = s.write(last)
	}
	if s.raw != nil {
		socket.Abortive(s.raw, false) // the end of the body and a FIN follow
	}
	return e.Reason
}

// Fail ends the stream on the wire after err stopped it before its writer
// took over (a resume that could not be written or read), and returns why
// it ended.
func (s *Stream) Fail(err error) hub.Reason {
	return s.end(writer.FailureEnding(err))
}

func (s *Stream) write(b []byte) error {
	if err := s.send(b); err != nil {
		return writer.WriteError{Err: err}
	}
	if err := s.flush(); err != nil {
		return writer.WriteError{Err: err}
	}
	return nil
}

// send writes b in pieces of at most stallPiece bytes, each with its own
// deadline: the stall rule cuts a client that takes no piece for the write
// timeout, not one that reads a long batch slowly but steadily.
func (s *Stream) send(b []byte) error {
	for len(b) > 0 {
		n := min(len(b), stallPiece)
		if err := s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
			return err
		}
		if _, err := s.w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// stallPiece is how much of a write must go out within the write timeout.
const stallPiece = 16 << 10

// flush sends what was written, within a write timeout of its own (what a
// write left in net/http's buffers goes out now, and that write's deadline
// may be nearly spent), and clears the deadline: HTTP/2 resets a stream
// whose deadline passes even while nothing is being written, which would end
// a quiet stream before its next heartbeat.
func (s *Stream) flush() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return err
	}
	if err := flushError(s.w); err != nil {
		return err
	}
	return s.rc.SetWriteDeadline(time.Time{})
}

// flushError flushes w and says whether all of it went out.
// http.ResponseController's Flush stops at the first wrapper with a plain
// Flush (go-zero's response writers have one) and reports nil whatever
// happened. A flush that failed (its write deadline passed) then went
// unseen, its bytes stayed in net/http's buffer, and the pool taking the
// stream over discarded them (Hijack resets that buffer) in the middle of a
// chunk: the corrupt stream `make chaos` found (seed 20261206). So w is
// unwrapped down to net/http's own writer, whose FlushError tells.
func flushError(w http.ResponseWriter) error {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }:
			return t.FlushError()
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return http.NewResponseController(w).Flush()
		}
	}
}

// sink is the stream as the history writer sees it (writer.Sink), so that
// only the writer's rules write to it from outside.
type sink struct{ s *Stream }

func (k sink) Send(b []byte) error { return k.s.send(b) }
func (k sink) Flush() error        { return k.s.flush() }
