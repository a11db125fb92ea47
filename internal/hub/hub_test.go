package hub

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
)

const wait = 5 * time.Second

func running(t *testing.T, opts Options) *Hub {
	t.Helper()
	if opts.ClientBuffer == 0 {
		opts.ClientBuffer = 8
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = time.Hour
	}
	h := New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	t.Cleanup(func() { cancel(); <-h.done })
	return h
}

func newEvent(seq uint64, topic string) *event.Event {
	return &event.Event{ID: eventid.ID{Ms: 1, Seq: seq}, Topic: topic, Wire: []byte("x")}
}

func recv(t *testing.T, c *Client) *event.Event {
	t.Helper()
	select {
	case ev := <-c.Events():
		return ev
	case <-time.After(wait):
		t.Fatal("no event")
		return nil
	}
}

func TestSubscribeReturnsLastDelivered(t *testing.T) {
	t.Parallel()
	h := running(t, Options{})
	watcher, last, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	require.True(t, last.IsZero())
	h.Deliver(newEvent(1, "b"))
	h.Deliver(newEvent(2, "a"))
	recv(t, watcher) // the hub has handed out both events
	_, last, err = h.Subscribe([]string{"a"})
	require.NoError(t, err)
	require.Equal(t, eventid.ID{Ms: 1, Seq: 2}, last)
}

func TestTopicIsolation(t *testing.T) {
	t.Parallel()
	h := running(t, Options{})
	a, _, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	ab, _, err := h.Subscribe([]string{"a", "b"})
	require.NoError(t, err)
	h.Deliver(newEvent(1, "b"))
	h.Deliver(newEvent(2, "a"))
	require.Equal(t, uint64(2), recv(t, a).ID.Seq)
	require.Equal(t, uint64(1), recv(t, ab).ID.Seq)
	require.Equal(t, uint64(2), recv(t, ab).ID.Seq)
}

// TestFullClientLagsOthersKeepReceiving: a full queue takes the client out
// of fan-out, not off the hub; it learns from which id to catch up, and
// after rejoining gets what follows the hub's position.
func TestFullClientLagsOthersKeepReceiving(t *testing.T) {
	t.Parallel()
	h := running(t, Options{ClientBuffer: 2})
	slow, _, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	fast, _, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	for i := uint64(1); i <= 5; i++ {
		h.Deliver(newEvent(i, "a"))
		require.Equal(t, i, recv(t, fast).ID.Seq)
	}
	select {
	case <-slow.Lagged():
	case <-time.After(wait):
		t.Fatal("the full client was not told it lags")
	}
	from, lagging := slow.Lagging()
	require.True(t, lagging)
	require.Equal(t, uint64(2), from.Seq, "it lags from the last event it queued")
	require.Equal(t, uint64(1), recv(t, slow).ID.Seq)
	require.Equal(t, uint64(2), recv(t, slow).ID.Seq)
	require.Equal(t, 2, h.Len(), "a lagging client is not cut")

	pos, err := h.Rejoin(slow)
	require.NoError(t, err)
	require.Equal(t, uint64(5), pos.Seq, "events up to the hub's position are the writer's to catch up")
	_, lagging = slow.Lagging()
	require.False(t, lagging)
	h.Deliver(newEvent(6, "a"))
	require.Equal(t, uint64(6), recv(t, slow).ID.Seq)
}

// TestRejoinAfterCut: a lagging client that is cut meanwhile stays out.
func TestRejoinAfterCut(t *testing.T) {
	t.Parallel()
	h := running(t, Options{ClientBuffer: 1})
	c, _, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	h.Deliver(newEvent(1, "a"))
	h.Deliver(newEvent(2, "a"))
	<-c.Lagged()
	h.CutAll(ReasonResync)
	_, err = h.Rejoin(c)
	require.ErrorIs(t, err, ErrCut)
	require.Equal(t, uint64(1), recv(t, c).ID.Seq)
	_, open := <-c.Events()
	require.False(t, open)
	require.Equal(t, ReasonResync, c.Reason())
}

func TestLimitAndDrain(t *testing.T) {
	t.Parallel()
	h := running(t, Options{MaxClients: 1})
	c, _, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	_, _, err = h.Subscribe([]string{"a"})
	require.ErrorIs(t, err, ErrFull)

	h.Drain()
	_, open := <-c.Events()
	require.False(t, open)
	require.Equal(t, ReasonShutdown, c.Reason())
	_, _, err = h.Subscribe([]string{"a"})
	require.ErrorIs(t, err, ErrDraining)
	require.True(t, h.Draining())
}

func TestUnsubscribeRemovesFromEveryTopic(t *testing.T) {
	t.Parallel()
	h := running(t, Options{})
	cs := make([]*Client, 5)
	for i := range cs {
		c, _, err := h.Subscribe([]string{"a", "b"})
		require.NoError(t, err)
		cs[i] = c
	}
	h.Unsubscribe(cs[1], ReasonClient)
	h.Unsubscribe(cs[4], ReasonClient)
	h.Unsubscribe(cs[4], ReasonClient) // twice is harmless
	h.Deliver(newEvent(1, "b"))
	for _, i := range []int{0, 2, 3} {
		require.Equal(t, uint64(1), recv(t, cs[i]).ID.Seq)
	}
	require.Equal(t, 3, h.Len())
	require.Empty(t, cs[1].Events())
}

func TestHeartbeatPingsIdleClients(t *testing.T) {
	t.Parallel()
	h := running(t, Options{Heartbeat: 20 * time.Millisecond})
	c, _, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	ev := recv(t, c)
	require.True(t, ev.ID.IsZero())
	require.Equal(t, ": ping\n\n", string(ev.Wire))
}

func BenchmarkFanout10k(b *testing.B) {
	h := New(Options{ClientBuffer: 1 << 20, Heartbeat: time.Hour})
	clients := make([]*Client, 10_000)
	for i := range clients {
		clients[i] = &Client{ch: make(chan *event.Event, 4), topics: []string{"a"}, slots: make([]int, 1)}
		require.NoError(b, h.add(clients[i]))
	}
	ev := newEvent(1, "a")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.fanout(ev)
		for _, c := range clients {
			<-c.ch
		}
	}
}

func TestFanoutDoesNotAllocate(t *testing.T) {
	h := New(Options{ClientBuffer: 4, Heartbeat: time.Hour})
	c := &Client{ch: make(chan *event.Event, 4), topics: []string{"a"}, slots: make([]int, 1)}
	require.NoError(t, h.add(c))
	ev := newEvent(1, "a")
	allocs := testing.AllocsPerRun(100, func() {
		h.fanout(ev)
		<-c.ch
	})
	require.Zero(t, allocs)
}

func TestCutAllKeepsTakingClients(t *testing.T) {
	t.Parallel()
	h := running(t, Options{})
	a, _, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	h.CutAll(ReasonResync)
	_, open := <-a.Events()
	require.False(t, open)
	require.Equal(t, ReasonResync, a.Reason())

	b, _, err := h.Subscribe([]string{"a"})
	require.NoError(t, err)
	h.Deliver(newEvent(1, "a"))
	require.Equal(t, uint64(1), recv(t, b).ID.Seq)
	require.False(t, h.Draining())
}
