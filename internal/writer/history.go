package writer

import (
	"context"
	"errors"

	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
	"ssehub/internal/topic"
)

// History is the log a lagging client catches up from.
type History interface {
	Replay(ctx context.Context, after, upto eventid.ID, match func(topic string) bool,
		start func(eventlog.Position) error, page func([]*event.Event) error) error
}

// errBehind says the log no longer holds all a lagging client missed.
var errBehind = errors.New("client fell behind retained history")

// Sink is one client's connection as the history writer sees it: Send
// writes b, blocking up to the write timeout; Flush ends a page.
type Sink interface {
	Send(b []byte) error
	Flush() error
}

// CatchUp brings a client the hub took out of fan-out (its queue was full)
// level again: it rejoins fan-out, then writes from the log what came while
// it was out, (from, the hub's position at rejoining], skipping what is at
// or before after. Events after that position are in the queue, so the seam
// has no gap and no duplicate. A client cut off meanwhile is left to its
// closed queue.
func CatchUp(ctx context.Context, h *hub.Hub, log History, c *hub.Client, from, after eventid.ID, tagged bool,
	s Sink) error {
	var frame []byte
	upto, err := h.Rejoin(c)
	if errors.Is(err, hub.ErrCut) {
		return nil
	}
	if err != nil {
		return err
	}
	return log.Replay(ctx, from, upto, topic.Matcher(c.Topics()),
		func(pos eventlog.Position) error {
			if pos != eventlog.Known {
				return errBehind
			}
			return nil
		},
		func(page []*event.Event) error { return WritePage(s, page, after, tagged, &frame) })
}

// WritePage sends one page of history to s, each event the client lacks
// written as the batch rule writes it, and flushes it; frame is reused.
func WritePage(s Sink, page []*event.Event, after eventid.ID, tagged bool, frame *[]byte) error {
	for _, ev := range page {
		if *frame = AppendFrame((*frame)[:0], ev, after, tagged); len(*frame) == 0 {
			continue
		}
		if err := s.Send(*frame); err != nil {
			return WriteError{Err: err}
		}
	}
	if err := s.Flush(); err != nil {
		return WriteError{Err: err}
	}
	return nil
}

// WriteError is a failed write to the client, told apart from the log's
// errors, which may wrap network errors and deadlines of their own.
type WriteError struct{ Err error }

func (e WriteError) Error() string { return "write to client: " + e.Err.Error() }
func (e WriteError) Unwrap() error { return e.Err }

// FailureEnding says how a stream whose catch-up (or resume) failed ends: a
// failed write as WriteEnding says; the client's context ending means it went
// or its token expired; anything else (history gone, the log unavailable, an
// unexpected error) ends it cleanly, and it resumes with its last id.
func FailureEnding(err error) Ending {
	var write WriteError
	switch {
	case errors.As(err, &write):
		return WriteEnding(write.Err)
	case errors.Is(err, context.Canceled):
		return Ending{Reason: hub.ReasonClient}
	case errors.Is(err, context.DeadlineExceeded): // Pump's context ends when the token expires
		return Ending{Reason: hub.ReasonAuth}
	case errors.Is(err, errBehind), errors.Is(err, eventlog.ErrBehind), errors.Is(err, eventlog.ErrUnavailable):
		return Ending{Reason: hub.ReasonSlow}
	default:
		logx.Errorw("stream failed", logx.Field("error", err.Error()))
		return Ending{Reason: hub.ReasonSlow}
	}
}
