package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
	"ssehub/internal/metrics"
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
	h := hub.New(hub.Options{MaxClients: 4, ClientBuffer: 64})
	go h.Run(ctx)
	log := eventlog.NewMemory(3, 0)
	var ids []string
	for range 6 {
		id, _, err := log.Append(ctx, event.Message{Topic: "a", Type: "m", Data: []byte(`1`)})
		require.NoError(t, err)
		ids = append(ids, id.String())
	}
	streams := &session.Streams{Hub: h, Log: log, Metrics: metrics.New(metrics.NewTopicLabels(4), false),
		Retry: time.Second, WriteTimeout: 5 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.NoError(t, streams.Serve(w, r, session.Request{Topics: []string{"a"},
			LastEventID: ids[0], Release: func() {}}))
	}))
	t.Cleanup(srv.Close) // after the stream's own cleanup closed it

	s := testkit.Open(t, srv.URL, nil)
	require.Equal(t, "reset", s.NextEvent(t).Event)
	go func() { _ = log.Run(ctx, h.Deliver) }()
	for _, want := range ids[1:] {
		require.Equal(t, want, s.NextEvent(t).ID)
	}
}
