package session_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/redislog"
	"ssehub/internal/hub"
	"ssehub/internal/metrics"
	"ssehub/internal/redistest"
	"ssehub/internal/session"
	"ssehub/internal/testkit"
)

// The resume seam when the hub is behind the log: the events are in history
// (and some already evicted) but not yet delivered when the client
// subscribes, so they reach its queue live. The client resumed from the
// first of them: it gets the reset, then every later event once, never the
// one it had.
func TestResumeAheadOfTheHubNeverRepeatsTheLastEventID(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(ctx)
	log := eventlog.NewMemory(eventlog.MemoryOptions{Size: 3})
	var ids []string
	for range 6 {
		id, _, err := log.Append(ctx, event.Message{Topic: "a", Type: "m", Data: []byte(`1`)})
		require.NoError(t, err)
		ids = append(ids, id.String())
	}
	s := resume(t, h, log, ids[0])
	require.Equal(t, "reset", s.NextEvent(t).Event)
	go func() { _ = log.Run(ctx, h.Deliver) }()
	for _, want := range ids[1:] {
		require.Equal(t, want, s.NextEvent(t).ID)
	}
}

func startHub(ctx context.Context) *hub.Hub {
	h := hub.New(hub.Options{MaxClients: 4, ClientBuffer: 64})
	go h.Run(ctx)
	return h
}

// resume opens a stream on topic "a" served by a session on h and log,
// resuming from lastID.
func resume(t *testing.T, h *hub.Hub, log eventlog.Log, lastID string) *testkit.Stream {
	t.Helper()
	streams := &session.Streams{Hub: h, Log: log, Observer: metrics.New(metrics.Options{Topics: metrics.NewTopicLabels(4)}),
		Retry: time.Second, WriteTimeout: 5 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.NoError(t, streams.Serve(w, r, session.Request{Topics: []string{"a"},
			LastEventID: lastID, Release: func() {}}))
	}))
	t.Cleanup(srv.Close) // after the stream's own cleanup closed it
	return testkit.Open(t, srv.URL, nil)
}

// appendThenDown appends n events to a Redis log through another instance,
// then stops Redis; it returns the serving instance's log and the events.
func appendThenDown(t *testing.T, ctx context.Context, n int) (eventlog.Log, []*event.Event) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	log := redislog.New(rdb, redislog.Options{Prefix: "t", Size: 100})
	other := redislog.New(rdb, redislog.Options{Prefix: "t", Size: 100})
	var evs []*event.Event
	for i := range n {
		m := event.Message{Topic: "a", Type: "m", Data: []byte(fmt.Sprint(i))}
		id, _, err := other.Append(ctx, m)
		require.NoError(t, err)
		ev, err := event.New(id, m, int64(id.Ms))
		require.NoError(t, err)
		evs = append(evs, ev)
	}
	srv.Kill()
	return log, evs
}

// Redis is down when a client resumes, and this instance's reader is behind
// the client (another instance appended the events; this one has not
// delivered them yet): the client is told history is unavailable, and then
// gets the events after its id once, not again the ones it had.
func TestResumeWhileRedisIsDownNeverRepeatsTheLastEventID(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, evs := appendThenDown(t, ctx, 3)
	h := startHub(ctx)

	s := resume(t, h, log, evs[1].ID.String())
	reset := s.NextEvent(t)
	require.Equal(t, "reset", reset.Event)
	require.Contains(t, reset.Data, "history-unavailable")
	for _, ev := range evs { // the reader catching up
		h.Deliver(ev)
	}
	require.Equal(t, evs[2].ID.String(), s.NextEvent(t).ID)
}

// The same with a forged id from the future: it holds nothing back.
func TestResumeWhileRedisIsDownFromAFutureIDHoldsNothingBack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log, evs := appendThenDown(t, ctx, 1)
	h := startHub(ctx)

	s := resume(t, h, log, fmt.Sprintf("%d-0", time.Now().Add(time.Hour).UnixMilli()))
	require.Equal(t, "reset", s.NextEvent(t).Event)
	h.Deliver(evs[0])
	require.Equal(t, evs[0].ID.String(), s.NextEvent(t).ID)
}
