package system_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"ssehub/internal/eventid"
	"ssehub/internal/redistest"
	"ssehub/internal/sse"
	"ssehub/internal/testkit"
	"ssehub/internal/testkit/process"
)

func redisClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// aheadOfClock puts an entry a minute in the future in the stream, as a
// Redis whose clock ran ahead would have (a failover to a host whose clock
// is behind, a clock stepped back): every later id is in that minute, so a
// Redis that lost some of them would hand them out again by its own "*".
func aheadOfClock(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ms := time.Now().Add(time.Minute).UnixMilli()
	require.NoError(t, rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "scale:events", ID: fmt.Sprintf("%d-0", ms),
		Values: []string{"topic", "old", "event", "m", "data", "0", "key", ""}}).Err())
}

// history is what one live client saw: the largest id and tick seq.
type history struct {
	last    eventid.ID
	lastRaw string
	seq     uint64
}

func (h *history) see(t *testing.T, f sse.Frame) {
	t.Helper()
	if !f.HasID {
		return
	}
	id, err := eventid.Parse(f.ID)
	require.NoError(t, err)
	require.True(t, h.last.Less(id), "ids out of order: %s after %s", f.ID, h.lastRaw)
	h.last, h.lastRaw = id, f.ID
	if f.Event == "tick" {
		var tk tickBody
		require.NoError(t, json.Unmarshal([]byte(f.Data), &tk))
		require.Greater(t, tk.Seq, h.seq, "tick seq went back")
		h.seq = tk.Seq
	}
}

// readUntil reads s until the event with id, recording what it saw.
func (h *history) readUntil(t *testing.T, s *testkit.Stream, id string) {
	t.Helper()
	for {
		f := s.NextEvent(t)
		h.see(t, f)
		if f.ID == id {
			return
		}
	}
}

func requireResetGone(t *testing.T, f sse.Frame, lastID string) {
	t.Helper()
	require.Equal(t, "reset", f.Event, "%+v", f)
	var body struct{ Reason, LastEventID string }
	require.NoError(t, json.Unmarshal([]byte(f.Data), &body))
	require.Equal(t, "history-gone", body.Reason)
	require.Equal(t, lastID, body.LastEventID)
}

// afterLoss checks what must hold once Redis lost the events after the
// ones h saw first: the live client was cut and gets a reset when it comes
// back; a client holding a lost id gets a reset, then what was published
// since; new events and ticks go on above everything issued before.
func afterLoss(t *testing.T, a *process.Process, live *testkit.Stream, h *history, lostID string) {
	t.Helper()
	for _, f := range live.End(t) {
		h.see(t, f)
	}
	testkit.WaitReady(t, a.URL, true)
	back := testkit.Open(t, a.URL+"/sse?topic=news", http.Header{"Last-Event-ID": {h.lastRaw}})
	requireResetGone(t, back.NextEvent(t), h.lastRaw)
	inLost := testkit.Open(t, a.URL+"/sse?topic=news", http.Header{"Last-Event-ID": {lostID}})
	requireResetGone(t, inLost.NextEvent(t), lostID)

	fresh := testkit.Publish(t, a.URL, "news", "m", `"after"`)
	id, err := eventid.Parse(fresh)
	require.NoError(t, err)
	require.True(t, h.last.Less(id), "new id %s is not above %s, issued before the loss", fresh, h.lastRaw)
	for _, s := range []*testkit.Stream{inLost, back} {
		require.Equal(t, sse.Frame{ID: fresh, HasID: true, Event: "m", Data: "after"}, s.NextEvent(t))
	}
	ticks := testkit.Open(t, a.URL+"/sse?topic=tick", nil)
	var tk tickBody
	require.NoError(t, json.Unmarshal([]byte(ticks.NextOf(t, "tick").Data), &tk))
	require.Greater(t, tk.Seq, h.seq, "tick seq went back after the loss")
	require.Contains(t, testkit.Metrics(t, a.URL), `ssehub_clients_disconnected_total{reason="resync"} 1`)
}

// Redis restarts from a snapshot older than the newest events: the snapshot
// keeps the epoch marker, and a tick is appended before the reader looks,
// yet the loss is found exactly (the last delivered entry is gone).
func TestScaleOutRedisRestoreFromSnapshot(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := instances(t, srv, 1, "TickInterval: 50ms")[0]
	rdb := redisClient(t, srv)
	aheadOfClock(t, rdb)
	live := testkit.Open(t, a.URL+"/sse?topic=news&topic=tick", nil)
	h := &history{}
	h.readUntil(t, live, testkit.Publish(t, a.URL, "news", "m", `1`))
	require.NoError(t, rdb.Save(context.Background()).Err())
	lost := testkit.Publish(t, a.URL, "news", "m", `2`)
	h.readUntil(t, live, testkit.Publish(t, a.URL, "news", "m", `3`))

	srv.Stop(t, false) // the file on disk stays the SAVE above
	srv.Start(t)
	afterLoss(t, a, live, h, lost)
}

// FLUSHALL drops every key, the epoch marker included, without dropping a
// connection: the reader finds it before delivering anything newer.
func TestScaleOutRedisFlushAll(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := instances(t, srv, 1, "TickInterval: 50ms")[0]
	rdb := redisClient(t, srv)
	aheadOfClock(t, rdb)
	live := testkit.Open(t, a.URL+"/sse?topic=news&topic=tick", nil)
	h := &history{}
	lost := testkit.Publish(t, a.URL, "news", "m", `1`)
	h.readUntil(t, live, testkit.Publish(t, a.URL, "news", "m", `2`))

	require.NoError(t, rdb.FlushAll(context.Background()).Err())
	afterLoss(t, a, live, h, lost)
}
