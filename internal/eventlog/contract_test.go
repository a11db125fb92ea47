package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/redistest"
)

// nodeEntries makes Redis trim in steps of this many entries, so the
// approximate (~) trimming of the tests' small logs stays close to Size.
const nodeEntries = 2

// waitFor bounds every wait for an expected outcome.
const waitFor = 10 * time.Second

// logMaker builds a running log of the given bounds for one test.
type logMaker func(t *testing.T, size int, maxAge time.Duration) Log

var makers = map[string]logMaker{
	"memory": func(t *testing.T, size int, maxAge time.Duration) Log {
		return NewMemory(size, maxAge)
	},
	"redis": func(t *testing.T, size int, maxAge time.Duration) Log {
		return newTestRedis(t, redistest.Start(t), RedisOptions{Prefix: "t", Size: size, MaxAge: maxAge})
	},
}

// newTestRedis builds a Redis log on srv with a client closed at cleanup.
func newTestRedis(t *testing.T, srv *redistest.Server, opts RedisOptions) *Redis {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	require.NoError(t, rdb.ConfigSet(context.Background(), "stream-node-max-entries", fmt.Sprint(nodeEntries)).Err())
	return NewRedis(rdb, opts)
}

func all(string) bool { return true }

// forEachLog runs fn against every implementation of Log.
func forEachLog(t *testing.T, fn func(t *testing.T, mk logMaker)) {
	for name, mk := range makers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, mk)
		})
	}
}

// running starts l's delivery into a slice and waits until it reads.
func running(t *testing.T, l Log) func() []*event.Event {
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
	r, isRedis := l.(*Redis)
	t.Cleanup(func() {
		cancel()
		if isRedis {
			// A blocked XREAD ends when its connection closes, not on ctx.
			_ = r.rdb.Close()
		}
		<-done
	})
	return func() []*event.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]*event.Event(nil), got...)
	}
}

// replayAll collects a whole replay, checking the callback contract: start
// once and first, pages of 1 to PageSize events in id order.
func replayAll(t *testing.T, l Log, after, upto eventid.ID, match func(string) bool) ([]*event.Event, Position, error) {
	t.Helper()
	var out []*event.Event
	pos, starts := Unknown, 0
	err := l.Replay(context.Background(), after, upto, match, func(p Position) error {
		require.Empty(t, out, "start comes before any page")
		pos, starts = p, starts+1
		return nil
	}, func(page []*event.Event) error {
		require.Equal(t, 1, starts, "a page before start")
		require.NotEmpty(t, page)
		require.LessOrEqual(t, len(page), PageSize)
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

func appendTo(t *testing.T, l Log, topic string, n int) []eventid.ID {
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

func TestLogDeliversInOrder(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 100, 0)
		got := running(t, l)
		ids := appendTo(t, l, "a", 50)
		require.Eventually(t, func() bool { return len(got()) == 50 }, waitFor, time.Millisecond)
		for i, ev := range got() {
			require.Equal(t, ids[i], ev.ID)
			require.Equal(t, fmt.Sprintf("id: %s\nevent: e\ndata: %d\n\n", ids[i], i), string(ev.Wire))
		}
	})
}

func TestLogReplayPositions(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 5, 0)
		running(t, l)
		ids := appendTo(t, l, "a", 40)
		last := ids[39]
		kept, pos, err := replayAll(t, l, eventid.ID{}, last, all)
		require.NoError(t, err)
		require.Equal(t, Gone, pos)
		first := len(ids) - len(kept) // index of the oldest retained id
		require.GreaterOrEqual(t, len(kept), 5)
		require.Less(t, len(kept), 5+2*nodeEntries)

		cases := []struct {
			name  string
			after eventid.ID
			pos   Position
			from  int // index of the first replayed id
		}{
			{"inside", ids[37], Known, 38},
			{"newest", last, Known, 40},
			{"oldest-retained", ids[first], Known, first + 1},
			{"evicted", ids[first-2], Gone, first},
			{"earlier-process", eventid.ID{Ms: ids[0].Ms - 100_000, Seq: 99}, Gone, first},
			{"later-than-issued", last.Next(), Unknown, 40},
			{"later-process", eventid.ID{Ms: last.Ms + 100_000_000, Seq: 1}, Unknown, 40},
		}
		for _, tc := range cases {
			evs, pos, err := replayAll(t, l, tc.after, last, all)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.pos, pos, tc.name)
			require.Len(t, evs, len(ids)-tc.from, tc.name)
			for i, ev := range evs {
				require.Equal(t, ids[tc.from+i], ev.ID, tc.name)
			}
		}
	})
}

func TestLogReplayStopsAtUpto(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 100, 0)
		running(t, l)
		ids := appendTo(t, l, "a", 10)
		evs, pos, err := replayAll(t, l, ids[2], ids[5], all)
		require.NoError(t, err)
		require.Equal(t, Known, pos)
		require.Len(t, evs, 3)
		require.Equal(t, ids[3], evs[0].ID)
		require.Equal(t, ids[5], evs[2].ID)
	})
}

func TestLogReplayPagesThroughLongHistory(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 3*PageSize, 0)
		running(t, l)
		ids := appendTo(t, l, "a", 2*PageSize+7)
		evs, pos, err := replayAll(t, l, ids[0], ids[len(ids)-1], all)
		require.NoError(t, err)
		require.Equal(t, Known, pos)
		require.Len(t, evs, len(ids)-1)
		for i, ev := range evs {
			require.Equal(t, ids[i+1], ev.ID)
		}
	})
}

func TestLogReplayFiltersTopics(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 100, 0)
		running(t, l)
		a := appendTo(t, l, "a", 2)
		b := appendTo(t, l, "b", 2)
		evs, _, err := replayAll(t, l, a[0], b[1], func(t string) bool { return t == "b" })
		require.NoError(t, err)
		require.Len(t, evs, 2)
		require.Equal(t, b[0], evs[0].ID)
		require.Equal(t, "b", evs[1].Topic)
	})
}

func TestLogIdempotencyKey(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 2, 0)
		got := running(t, l)
		m := event.Message{Topic: "a", Type: "e", Data: []byte("x"), Key: "k1"}
		first, dup, err := l.Append(context.Background(), m)
		require.NoError(t, err)
		require.False(t, dup)
		again, dup, err := l.Append(context.Background(), m)
		require.NoError(t, err)
		require.True(t, dup)
		require.Equal(t, first, again)
		// A later event shows the duplicate was never delivered.
		later := appendTo(t, l, "a", 1)[0]
		require.Eventually(t, func() bool { n := len(got()); return n > 0 && got()[n-1].ID == later },
			waitFor, time.Millisecond)
		require.Len(t, got(), 2)

		// Evicting the keyed event frees the key.
		for latest := later; ; latest = appendTo(t, l, "a", 1)[0] {
			evs, _, err := replayAll(t, l, eventid.ID{}, latest, all)
			require.NoError(t, err)
			if evs[0].ID != first {
				break
			}
		}
		third, dup, err := l.Append(context.Background(), m)
		require.NoError(t, err)
		require.False(t, dup)
		require.True(t, first.Less(third))
	})
}

func TestLogConcurrentKeyedAppendsPublishOnce(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 100, 0)
		running(t, l)
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
	})
}

func TestLogReplayStreamsBoundedPages(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 4*PageSize, 0)
		running(t, l)
		ids := appendTo(t, l, "a", 3*PageSize+5)
		var got []eventid.ID
		pages := 0
		err := l.Replay(context.Background(), ids[0], ids[len(ids)-1], all, func(Position) error { return nil },
			func(page []*event.Event) error {
				pages++
				require.LessOrEqual(t, len(page), PageSize)
				for _, ev := range page {
					got = append(got, ev.ID)
				}
				return nil
			})
		require.NoError(t, err)
		require.Equal(t, ids[1:], got)
		require.GreaterOrEqual(t, pages, 4)
	})
}

func TestLogReplayCallbackErrorsEndIt(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 4*PageSize, 0)
		running(t, l)
		ids := appendTo(t, l, "a", 2*PageSize)
		stop := errors.New("stop")
		err := l.Replay(context.Background(), ids[0], ids[len(ids)-1], all, func(Position) error { return stop },
			func([]*event.Event) error { t.Fatal("a page after start failed"); return nil })
		require.Equal(t, stop, err)

		pages := 0
		err = l.Replay(context.Background(), ids[0], ids[len(ids)-1], all, func(Position) error { return nil },
			func([]*event.Event) error { pages++; return stop })
		require.Equal(t, stop, err)
		require.Equal(t, 1, pages)
	})
}

// History trimmed past the replay while a page was being written: the
// replay stops with ErrBehind instead of skipping what was trimmed.
func TestLogReplayBehindWhenHistoryMovesOn(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 2*PageSize, 0)
		running(t, l)
		ids := appendTo(t, l, "a", 2*PageSize)
		pages := 0
		err := l.Replay(context.Background(), ids[0], ids[len(ids)-1], all, func(p Position) error {
			require.Equal(t, Known, p)
			return nil
		}, func([]*event.Event) error {
			pages++
			appendTo(t, l, "a", 4*PageSize)
			return nil
		})
		require.ErrorIs(t, err, ErrBehind)
		require.Equal(t, 1, pages)
	})
}

// A key is scoped to its topic: the same key on another topic is another
// event, and a duplicate answer never names another topic's event.
func TestLogIdempotencyKeyScopedToTopic(t *testing.T) {
	forEachLog(t, func(t *testing.T, mk logMaker) {
		l := mk(t, 100, 0)
		got := running(t, l)
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
		require.Eventually(t, func() bool { return len(got()) == 4 }, waitFor, time.Millisecond)
		for i, want := range []string{"other", "news", "a:b", "a"} {
			require.Equal(t, want, got()[i].Topic)
		}
	})
}
