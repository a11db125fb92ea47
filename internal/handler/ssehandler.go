package handler

import (
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"ssehub/internal/apierr"
	"ssehub/internal/auth"
	"ssehub/internal/hub"
	"ssehub/internal/session"
	"ssehub/internal/svc"
	"ssehub/internal/topic"
)

// SseHandler serves GET /sse: parse, authorize, then run the stream's
// session until it ends.
func SseHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	conf := svcCtx.Config.Sse
	return func(w http.ResponseWriter, r *http.Request) {
		// The cap comes first, so a ticket is not spent on a refused stream.
		ip := svcCtx.ClientIP.Of(r)
		if !svcCtx.StreamsPerIP.Acquire(ip) {
			svcCtx.Observer.Disconnected(hub.ReasonLimit)
			apierr.Write(w, r, apierr.Unavailable("too_many_streams",
				"this address holds Sse.MaxClientsPerIP streams already", conf.Retry))
			return
		}
		release := sync.OnceFunc(func() { svcCtx.StreamsPerIP.Release(ip) })
		query, topics, err := streamQuery(r, conf.DefaultTopics, conf.MaxTopics)
		if err != nil {
			release()
			apierr.Write(w, r, err)
			return
		}
		expires, err := authorizeStream(svcCtx.Auth, r, topics)
		if err != nil {
			release()
			svcCtx.Observer.Disconnected(hub.ReasonAuth)
			apierr.Write(w, r, err)
			return
		}
		lastID := r.Header.Get("Last-Event-ID")
		if lastID == "" {
			lastID = query.Get("lastEventId")
		}
		err = svcCtx.Streams.Serve(w, r, session.Request{
			Topics: topics, LastEventID: lastID, Expires: expires, Release: release,
			WithTopic: query.Get("withTopic") == "1",
		})
		if err != nil {
			apierr.Write(w, r, subscribeError(err, conf.Retry))
		}
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
		return apierr.Unavailable("too_many_clients", "the server holds its maximum number of streams", retryAfter)
	case errors.Is(err, hub.ErrDraining):
		return apierr.Unavailable("draining", "the server is shutting down", retryAfter)
	default:
		return err
	}
}
