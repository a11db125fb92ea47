// Package logtest is the contract every eventlog.Log keeps, run by each
// implementation's tests (eventlog's memory log, redislog), and the helpers
// those tests share.
package logtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
)

// NodeEntries is how far past its Size a log may trim in one step: the Redis
// tests make Redis trim in steps of this many entries, so the approximate (~)
// trimming of their small logs stays close to Size.
const NodeEntries = 2

// WaitFor bounds every wait for an expected outcome.
const WaitFor = 10 * time.Second

// Maker builds a log of the given bounds for one test. Its Run must return
// soon after its context ends.
type Maker func(t *testing.T, size int, maxAge time.Duration) eventlog.Log

// All matches every topic.
func All(string) bool { return true }

// Contract runs every case of the contract, in parallel, on logs from mk.
func Contract(t *testing.T, mk Maker) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, mk Maker)
	}{
		{"DeliversInOrder", deliversInOrder},
		{"ReplayPositions", replayPositions},
		{"ReplayStopsAtUpto", replayStopsAtUpto},
		{"ReplayPagesThroughLongHistory", replayPagesThroughLongHistory},
		{"ReplayFiltersTopics", replayFiltersTopics},
		{"IdempotencyKey", idempotencyKey},
		{"ConcurrentKeyedAppendsPublishOnce", concurrentKeyedAppendsPublishOnce},
		{"ReplayStreamsBoundedPages", replayStreamsBoundedPages},
		{"ReplayCallbackErrorsEndIt", replayCallbackErrorsEndIt},
		{"ReplayBehindWhenHistoryMovesOn", replayBehindWhenHistoryMovesOn},
		{"IdempotencyKeyScopedToTopic", idempotencyKeyScopedToTopic},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, mk)
		})
	}
}

// Running starts l's delivery into a slice, stops it at cleanup, and
// returns what was delivered so far.
func Running(t *testing.T, l eventlog.Log) func() []*event.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []*event.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx, func(ev *event.Event) {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func() []*event.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]*event.Event(nil), got...)
	}
}

// ReplayAll collects a whole replay, checking the callback contract: start
// once and first, pages of 1 to eventlog.PageSize events in id order.
func ReplayAll(t *testing.T, l eventlog.Log, after, upto eventid.ID, match func(string) bool) ([]*event.Event, eventlog.Position, error) {
	t.Helper()
	var out []*event.Event
	pos, starts := eventlog.Unknown, 0
	err := l.Replay(context.Background(), after, upto, match, func(p eventlog.Position) error {
		require.Empty(t, out, "start comes before any page")
		pos, starts = p, starts+1
		return nil
	}, func(page []*event.Event) error {
		require.Equal(t, 1, starts, "a page before start")
		require.NotEmpty(t, page)
		require.LessOrEqual(t, len(page), eventlog.PageSize)
		out = append(out, page...)
		return nil
	})
	if err == nil {
		require.Equal(t, 1, starts, "start is called exactly once")
	}
	for i := 1; i < len(out); i++ {
		require.True(t, out[i-1].ID.Less(out[i].ID), "replay out of order")
	}
	return out, pos, err
}

// AppendTo appends n events to topic and returns their ids.
func AppendTo(t *testing.T, l eventlog.Log, topic string, n int) []eventid.ID {
	t.Helper()
	ids := make([]eventid.ID, n)
	for i := range ids {
		id, dup, err := l.Append(context.Background(), event.Message{Topic: topic, Type: "e", Data: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
		require.False(t, dup)
		ids[i] = id
	}
	return ids
}

func deliversInOrder(t *testing.T, mk Maker) {
	l := mk(t, 100, 0)
	got := Running(t, l)
	ids := AppendTo(t, l, "a", 50)
	require.Eventually(t, func() bool { return len(got()) == 50 }, WaitFor, time.Millisecond)
	for i, ev := range got() {
		require.Equal(t, ids[i], ev.ID)
		require.Equal(t, fmt.Sprintf("id: %s\nevent: e\ndata: %d\n\n", ids[i], i), string(ev.Wire))
	}
}

func replayPositions(t *testing.T, mk Maker) {
	l := mk(t, 5, 0)
	Running(t, l)
	ids := AppendTo(t, l, "a", 40)
	last := ids[39]
	kept, pos, err := ReplayAll(t, l, eventid.ID{}, last, All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Gone, pos)
	first := len(ids) - len(kept) // index of the oldest retained id
	require.GreaterOrEqual(t, len(kept), 5)
	require.Less(t, len(kept), 5+2*NodeEntries)

	cases := []struct {
		name  string
		after eventid.ID
		pos   eventlog.Position
		from  int // index of the first replayed id
	}{
		{"inside", ids[37], eventlog.Known, 38},
		{"newest", last, eventlog.Known, 40},
		{"oldest-retained", ids[first], eventlog.Known, first + 1},
		{"evicted", ids[first-2], eventlog.Gone, first},
		{"earlier-process", eventid.ID{Ms: ids[0].Ms - 100_000, Seq: 99}, eventlog.Gone, first},
		{"later-than-issued", last.Next(), eventlog.Unknown, 40},
		{"later-process", eventid.ID{Ms: last.Ms + 100_000_000, Seq: 1}, eventlog.Unknown, 40},
	}
	for _, tc := range cases {
		evs, pos, err := ReplayAll(t, l, tc.after, last, All)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.pos, pos, tc.name)
		require.Len(t, evs, len(ids)-tc.from, tc.name)
		for i, ev := range evs {
			require.Equal(t, ids[tc.from+i], ev.ID, tc.name)
		}
	}
}

func replayStopsAtUpto(t *testing.T, mk Maker) {
	l := mk(t, 100, 0)
	Running(t, l)
	ids := AppendTo(t, l, "a", 10)
	evs, pos, err := ReplayAll(t, l, ids[2], ids[5], All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Known, pos)
	require.Len(t, evs, 3)
	require.Equal(t, ids[3], evs[0].ID)
	require.Equal(t, ids[5], evs[2].ID)
}

func replayPagesThroughLongHistory(t *testing.T, mk Maker) {
	l := mk(t, 3*eventlog.PageSize, 0)
	Running(t, l)
	ids := AppendTo(t, l, "a", 2*eventlog.PageSize+7)
	evs, pos, err := ReplayAll(t, l, ids[0], ids[len(ids)-1], All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Known, pos)
	require.Len(t, evs, len(ids)-1)
	for i, ev := range evs {
		require.Equal(t, ids[i+1], ev.ID)
	}
}

func replayFiltersTopics(t *testing.T, mk Maker) {
	l := mk(t, 100, 0)
	Running(t, l)
	a := AppendTo(t, l, "a", 2)
	b := AppendTo(t, l, "b", 2)
	evs, _, err := ReplayAll(t, l, a[0], b[1], func(t string) bool { return t == "b" })
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, b[0], evs[0].ID)
	require.Equal(t, "b", evs[1].Topic)
}

func idempotencyKey(t *testing.T, mk Maker) {
	l := mk(t, 2, 0)
	got := Running(t, l)
	m := event.Message{Topic: "a", Type: "e", Data: []byte("x"), Key: "k1"}
	first, dup, err := l.Append(context.Background(), m)
	require.NoError(t, err)
	require.False(t, dup)
	again, dup, err := l.Append(context.Background(), m)
	require.NoError(t, err)
	require.True(t, dup)
	require.Equal(t, first, again)
	// A later event shows the duplicate was never delivered.
	later := AppendTo(t, l, "a", 1)[0]
	require.Eventually(t, func() bool { n := len(got()); return n > 0 && got()[n-1].ID == later },
		WaitFor, time.Millisecond)
	require.Len(t, got(), 2)

	// Evicting the keyed event frees the key.
	for latest := later; ; latest = AppendTo(t, l, "a", 1)[0] {
		evs, _, err := ReplayAll(t, l, eventid.ID{}, latest, All)
		require.NoError(t, err)
		if evs[0].ID != first {
			break
		}
	}
	third, dup, err := l.Append(context.Background(), m)
	require.NoError(t, err)
	require.False(t, dup)
	require.True(t, first.Less(third))
}

func concurrentKeyedAppendsPublishOnce(t *testing.T, mk Maker) {
	l := mk(t, 100, 0)
	Running(t, l)
	const n = 16
	ids := make([]eventid.ID, n)
	dups := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, dup, err := l.Append(context.Background(), event.Message{Topic: "a", Type: "e", Key: "same"})
			require.NoError(t, err)
			ids[i], dups[i] = id, dup
		})
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		require.Equal(t, ids[0], ids[i])
		if !dups[i] {
			fresh++
		}
	}
	require.Equal(t, 1, fresh)
}

func replayStreamsBoundedPages(t *testing.T, mk Maker) {
	l := mk(t, 4*eventlog.PageSize, 0)
	Running(t, l)
	ids := AppendTo(t, l, "a", 3*eventlog.PageSize+5)
	var got []eventid.ID
	pages := 0
	err := l.Replay(context.Background(), ids[0], ids[len(ids)-1], All, func(eventlog.Position) error { return nil },
		func(page []*event.Event) error {
			pages++
			require.LessOrEqual(t, len(page), eventlog.PageSize)
			for _, ev := range page {
				got = append(got, ev.ID)
			}
			return nil
		})
	require.NoError(t, err)
	require.Equal(t, ids[1:], got)
	require.GreaterOrEqual(t, pages, 4)
}

func replayCallbackErrorsEndIt(t *testing.T, mk Maker) {
	l := mk(t, 4*eventlog.PageSize, 0)
	Running(t, l)
	ids := AppendTo(t, l, "a", 2*eventlog.PageSize)
	stop := errors.New("stop")
	err := l.Replay(context.Background(), ids[0], ids[len(ids)-1], All, func(eventlog.Position) error { return stop },
		func([]*event.Event) error { t.Fatal("a page after start failed"); return nil })
	require.Equal(t, stop, err)

	pages := 0
	err = l.Replay(context.Background(), ids[0], ids[len(ids)-1], All, func(eventlog.Position) error { return nil },
		func([]*event.Event) error { pages++; return stop })
	require.Equal(t, stop, err)
	require.Equal(t, 1, pages)
}

// History trimmed past the replay while a page was being written: the
// replay stops with eventlog.ErrBehind instead of skipping what was trimmed.
func replayBehindWhenHistoryMovesOn(t *testing.T, mk Maker) {
	l := mk(t, 2*eventlog.PageSize, 0)
	Running(t, l)
	ids := AppendTo(t, l, "a", 2*eventlog.PageSize)
	pages := 0
	err := l.Replay(context.Background(), ids[0], ids[len(ids)-1], All, func(p eventlog.Position) error {
		require.Equal(t, eventlog.Known, p)
		return nil
	}, func([]*event.Event) error {
		pages++
		AppendTo(t, l, "a", 4*eventlog.PageSize)
		return nil
	})
	require.ErrorIs(t, err, eventlog.ErrBehind)
	require.Equal(t, 1, pages)
}

// A key is scoped to its topic: the same key on another topic is another
// event, and a duplicate answer never names another topic's event.
func idempotencyKeyScopedToTopic(t *testing.T, mk Maker) {
	l := mk(t, 100, 0)
	got := Running(t, l)
	publish := func(topic, key string) (eventid.ID, bool) {
		id, dup, err := l.Append(context.Background(), event.Message{Topic: topic, Type: "e", Data: []byte(topic), Key: key})
		require.NoError(t, err)
		return id, dup
	}
	other, dup := publish("other", "K")
	require.False(t, dup)
	news, dup := publish("news", "K")
	require.False(t, dup, "a key of topic other made a publish on news a duplicate")
	require.NotEqual(t, other, news)
	// Topics may hold ':'; the key's scope must not run into its name.
	ab, dup := publish("a:b", "c")
	require.False(t, dup)
	a, dup := publish("a", "b:c")
	require.False(t, dup)

	for _, want := range []struct {
		topic, key string
		id         eventid.ID
	}{{"other", "K", other}, {"news", "K", news}, {"a:b", "c", ab}, {"a", "b:c", a}} {
		id, dup := publish(want.topic, want.key)
		require.True(t, dup, want.topic)
		require.Equal(t, want.id, id, want.topic)
	}
	require.Eventually(t, func() bool { return len(got()) == 4 }, WaitFor, time.Millisecond)
	for i, want := range []string{"other", "news", "a:b", "a"} {
		require.Equal(t, want, got()[i].Topic)
	}
}
