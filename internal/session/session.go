// Package session owns one event stream from subscribe to end: it
// subscribes, resumes from Last-Event-ID across the seam between history and
// the live queue, hands the stream to a writer, and ends it once.
package session

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
	"ssehub/internal/metrics"
	"ssehub/internal/pool"
	"ssehub/internal/stream"
	"ssehub/internal/topic"
)

// Reset reasons, the "reason" of an `event: reset`.
const (
	resetHistoryGone = "history-gone"
	resetUnknownID   = "unknown-id"
	resetUnavailable = "history-unavailable"
)

// maxEchoedID bounds how much of an unplaceable Last-Event-ID a reset echoes.
const maxEchoedID = 64

// Streams is what every session shares.
type Streams struct {
	Hub      *hub.Hub
	Log      eventlog.Log
	Observer metrics.Observer
	// Pool takes streams over from net/http; nil keeps every stream on its
	// handler's goroutine.
	Pool         *pool.Pool
	Retry        time.Duration
	WriteTimeout time.Duration
}

// Request is one authorized stream request.
type Request struct {
	Topics      []string
	LastEventID string
	// Expires, if set, ends the stream (reason auth) when its token expires.
	Expires time.Time
	// Release gives back what the handler took for the stream (its
	// per-address slot); it runs once, when the stream has ended.
	Release func()
	// WithTopic: the client reads several topics from this one stream, so
	// every event names its topic first (withTopic=1, static/ssehub.js).
	WithTopic bool
}

// session is one stream; Ended is its one close path.
type session struct {
	hub     *hub.Hub
	client  *hub.Client
	release func()
	once    sync.Once
}

var _ pool.Owner = (*session)(nil)

// Serve runs one stream until it ends. It returns an error only when the
// stream could not start (hub.ErrFull, hub.ErrDraining) and nothing was
// written, for the handler to answer; req.Release has run by then.
func (s *Streams) Serve(w http.ResponseWriter, r *http.Request, req Request) error {
	client, last, err := s.Hub.Subscribe(req.Topics)
	if err != nil {
		req.Release()
		return err
	}
	sess := &session{hub: s.Hub, client: client, release: req.Release}
	ctx := r.Context()
	if !req.Expires.IsZero() {
		// One timer per stream, nothing per event.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, req.Expires)
		defer cancel()
	}
	st, err := stream.Open(w, r, s.Retry, s.WriteTimeout)
	if err != nil {
		logx.WithContext(ctx).Infow("stream not opened", logx.Field("error", err.Error()))
		sess.Ended(hub.ReasonClient)
		return nil
	}
	if req.WithTopic {
		st.TagTopics()
	}
	after, err := s.resume(ctx, st, req, last)
	if err != nil {
		sess.Ended(st.Fail(err))
		return nil
	}
	adoption := pool.Adoption{After: after, Expires: req.Expires, Owner: sess, TagTopics: req.WithTopic}
	if s.Pool.Adopt(w, r, client, adoption) {
		return nil
	}
	sess.Ended(st.Pump(ctx, client, after, stream.CatchUp{Hub: s.Hub, Log: s.Log}))
	return nil
}

// Ended takes the client out of the hub (a no-op when the hub cut it off,
// which counted it already) and releases the slot, once.
func (s *session) Ended(r hub.Reason) {
	s.once.Do(func() {
		s.hub.Unsubscribe(s.client, r)
		s.release()
	})
}

// resume is the seam: it writes what the client missed after its
// Last-Event-ID up to last (the hub's position when the client subscribed;
// later events are in its queue) and returns the id at or before which
// queued events are duplicates. An error ends the stream.
func (s *Streams) resume(ctx context.Context, st *stream.Stream, req Request, last eventid.ID) (eventid.ID, error) {
	if req.LastEventID == "" {
		return eventid.ID{}, nil
	}
	after, err := eventid.Parse(req.LastEventID)
	if err != nil {
		return eventid.ID{}, s.reset(st, resetUnknownID, req.LastEventID)
	}
	pos, started := eventlog.Unknown, false
	err = s.Log.Replay(ctx, after, last, topic.Matcher(req.Topics),
		func(p eventlog.Position) error {
			pos, started = p, true
			switch p {
			case eventlog.Gone:
				return s.reset(st, resetHistoryGone, req.LastEventID)
			case eventlog.Unknown:
				return s.reset(st, resetUnknownID, req.LastEventID)
			}
			return nil
		},
		func(page []*event.Event) error {
			s.Observer.Replayed(len(page))
			return st.Replay(page)
		})
	switch {
	case err != nil && !started && errors.Is(err, eventlog.ErrUnavailable):
		logx.WithContext(ctx).Errorw("replay failed", logx.Field("lastEventId", req.LastEventID),
			logx.Field("error", err.Error()))
		if err := s.reset(st, resetUnavailable, req.LastEventID); err != nil {
			return eventid.ID{}, err
		}
		// History could not be read, but an id that can have been issued
		// still says what the client holds: queued events up to it (the
		// reader can be behind the client) are duplicates. A future id
		// dedupes nothing, so a forged one cannot hold events back.
		if s.Log.Issued(after) {
			return after, nil
		}
		return eventid.ID{}, nil
	case err != nil:
		return eventid.ID{}, err
	case pos == eventlog.Unknown:
		return eventid.ID{}, nil
	}
	// Known or Gone: the client holds everything up to after, so queued
	// events at or below it (published before the hub delivered them, when
	// it subscribed) are duplicates, even when history lost some.
	return after, nil
}

func (s *Streams) reset(st *stream.Stream, reason, lastID string) error {
	s.Observer.Reset()
	if len(lastID) > maxEchoedID {
		lastID = lastID[:maxEchoedID]
	}
	return st.Reset(reason, lastID)
}
