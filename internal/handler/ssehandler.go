package handler

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/apierr"
	"ssehub/internal/auth"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
	"ssehub/internal/metrics"
	"ssehub/internal/stream"
	"ssehub/internal/svc"
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

// SseHandler serves GET /sse: subscribe, open the stream, replay what the
// client missed, then write live events until it goes.
func SseHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	conf := svcCtx.Config.Sse
	return func(w http.ResponseWriter, r *http.Request) {
		// The cap comes first, so a ticket is not spent on a refused stream.
		ip := svcCtx.ClientIP.Of(r)
		if !svcCtx.StreamsPerIP.Acquire(ip) {
			metrics.Hub{}.Disconnected(hub.ReasonLimit)
			apierr.Write(w, r, apierr.Unavailable("too_many_streams",
				"this address holds Sse.MaxClientsPerIP streams already", conf.Retry))
			return
		}
		release := func() { svcCtx.StreamsPerIP.Release(ip) }
		// A taken-over stream outlives this handler; it releases its slot
		// when it ends.
		adopted := false
		defer func() {
			if !adopted {
				release()
			}
		}()
		query, topics, err := streamQuery(r, conf.DefaultTopics, conf.MaxTopics)
		if err != nil {
			apierr.Write(w, r, err)
			return
		}
		expires, err := authorizeStream(svcCtx.Auth, r, topics)
		if err != nil {
			metrics.Hub{}.Disconnected(hub.ReasonAuth)
			apierr.Write(w, r, err)
			return
		}
		// The stream ends when its token expires: one timer per stream,
		// nothing per event.
		ctx := r.Context()
		if !expires.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, expires)
			defer cancel()
		}
		lastID := r.Header.Get("Last-Event-ID")
		if lastID == "" {
			lastID = query.Get("lastEventId")
		}

		client, last, err := svcCtx.Hub.Subscribe(topics)
		if err != nil {
			apierr.Write(w, r, subscribeError(err, conf.Retry))
			return
		}
		st, err := stream.Open(w, conf.Retry, conf.WriteTimeout)
		if err != nil {
			svcCtx.Hub.Unsubscribe(client, hub.ReasonClient)
			logx.WithContext(r.Context()).Infow("stream not opened", logx.Field("error", err.Error()))
			return
		}
		// withTopic=1: the client reads several topics from this one stream
		// and needs to know each event's (static/ssehub.js does).
		tagged := query.Get("withTopic") == "1"
		if tagged {
			st.TagTopics()
		}

		after, err := resume(r, st, svcCtx.Log, lastID, last, topic.Matcher(topics))
		if err == nil {
			adopted = svcCtx.Streams.Adopt(w, r, client,
				stream.Adoption{After: after, Expires: expires, OnEnd: release, TagTopics: tagged})
			if adopted {
				return
			}
		}
		reason := hub.ReasonClient
		if err == nil {
			reason = st.Pump(ctx, client, after)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason = hub.ReasonAuth
		}
		// A no-op when the hub already cut the client off.
		svcCtx.Hub.Unsubscribe(client, reason)
	}
}

// streamQuery reads the query and its topics. r.URL.Query would drop a query
// it cannot parse (bad escapes, more than Go's 10,000 parameters) and
// stream the default topics instead.
func streamQuery(r *http.Request, defaults []string, limit int) (url.Values, []string, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, nil, apierr.New(http.StatusBadRequest, "bad_query", "the query string is malformed or too long")
	}
	topics, err := topic.List(query["topic"], defaults, limit)
	if err != nil {
		return nil, nil, apierr.New(http.StatusBadRequest, "bad_topic", err.Error())
	}
	return query, topics, nil
}

// authorizeStream checks the request's credential (once, for the whole
// stream) against topics and returns when the credential expires; a nil
// authenticator lets everyone in, for good.
func authorizeStream(a *auth.Authenticator, r *http.Request, topics []string) (time.Time, error) {
	if a == nil {
		return time.Time{}, nil
	}
	id, err := a.Stream(r.Context())
	if err != nil {
		return time.Time{}, unauthorized(err)
	}
	if t, ok := id.Subscribe.AllowsAll(topics); !ok {
		return time.Time{}, forbiddenTopic(t, "subscribing to")
	}
	return id.Expires, nil
}

func subscribeError(err error, retryAfter time.Duration) error {
	switch {
	case errors.Is(err, hub.ErrFull):
		metrics.Hub{}.Disconnected(hub.ReasonLimit)
		return apierr.Unavailable("too_many_clients", "the server holds its maximum number of streams", retryAfter)
	case errors.Is(err, hub.ErrDraining):
		return apierr.Unavailable("draining", "the server is shutting down", retryAfter)
	default:
		return err
	}
}

// resume writes what the client missed after lastID, up to last (the hub's
// position when the client joined; later events are in its queue), and
// returns the id below which queued events are duplicates.
func resume(r *http.Request, st *stream.Stream, log eventlog.Log, lastID string, last eventid.ID,
	match func(string) bool) (eventid.ID, error) {
	if lastID == "" {
		return eventid.ID{}, nil
	}
	after, err := eventid.Parse(lastID)
	if err != nil {
		return eventid.ID{}, reset(st, resetUnknownID, lastID)
	}
	events, pos, err := log.Replay(r.Context(), after, last, match)
	if err != nil {
		logx.WithContext(r.Context()).Errorw("replay failed", logx.Field("lastEventId", lastID),
			logx.Field("error", err.Error()))
		return eventid.ID{}, reset(st, resetUnavailable, lastID)
	}
	switch pos {
	case eventlog.Gone:
		err = reset(st, resetHistoryGone, lastID)
	case eventlog.Unknown:
		return eventid.ID{}, reset(st, resetUnknownID, lastID)
	}
	if err != nil {
		return eventid.ID{}, err
	}
	metrics.Replayed(len(events))
	if err := st.Replay(events); err != nil {
		return eventid.ID{}, err
	}
	if pos == eventlog.Gone {
		return eventid.ID{}, nil
	}
	return after, nil
}

func reset(st *stream.Stream, reason, lastID string) error {
	metrics.Reset()
	if len(lastID) > maxEchoedID {
		lastID = lastID[:maxEchoedID]
	}
	return st.Reset(reason, lastID)
}
