package eventlog

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/eventid"
)

func all(string) bool { return true }

// clock is a settable time source for age tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// started runs l's delivery into a slice the test can read.
func started(t *testing.T, l *Memory) func() []*Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []*Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx, func(ev *Event) {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []*Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]*Event(nil), got...)
	}
}

func appendN(t *testing.T, l *Memory, topic string, n int) []eventid.ID {
	t.Helper()
	ids := make([]eventid.ID, n)
	for i := range ids {
		id, dup, err := l.Append(context.Background(), Message{Topic: topic, Type: "e", Data: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
		require.False(t, dup)
		ids[i] = id
	}
	return ids
}

func TestMemoryIDsAreOrderedAndCarryStartTime(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	l := newMemory(10, 0, c.now)
	started(t, l)
	ids := appendN(t, l, "a", 3)
	require.Equal(t, "1700000000000-1", ids[0].String())
	require.True(t, ids[0].Less(ids[1]) && ids[1].Less(ids[2]))
}

func TestMemoryDeliversInOrder(t *testing.T) {
	t.Parallel()
	l := NewMemory(100, 0)
	got := started(t, l)
	ids := appendN(t, l, "a", 50)
	require.Eventually(t, func() bool { return len(got()) == 50 }, 5*time.Second, time.Millisecond)
	for i, ev := range got() {
		require.Equal(t, ids[i], ev.ID)
	}
}

func TestMemoryReplayPositions(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	l := newMemory(5, 0, c.now)
	started(t, l)
	ids := appendN(t, l, "a", 8) // ids[0..2] evicted, ids[3..7] retained
	last := ids[7]

	cases := []struct {
		name  string
		after eventid.ID
		pos   Position
		first int // index of the first replayed id, -1 for none
		n     int
	}{
		{"inside", ids[4], Known, 5, 3},
		{"newest", ids[7], Known, -1, 0},
		{"just-evicted-edge", ids[2], Known, 3, 5},
		{"evicted", ids[1], Gone, 3, 5},
		{"earlier-process", eventid.ID{Ms: 1_600_000_000_000, Seq: 99}, Gone, 3, 5},
		{"later-than-issued", last.Next(), Unknown, -1, 0},
		{"later-process", eventid.ID{Ms: 1_800_000_000_000, Seq: 1}, Unknown, -1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, pos, err := l.Replay(context.Background(), tc.after, last, all)
			require.NoError(t, err)
			require.Equal(t, tc.pos, pos)
			require.Len(t, evs, tc.n)
			for i, ev := range evs {
				require.Equal(t, ids[tc.first+i], ev.ID)
			}
		})
	}
}

func TestMemoryReplayStopsAtUpto(t *testing.T) {
	t.Parallel()
	l := NewMemory(100, 0)
	started(t, l)
	ids := appendN(t, l, "a", 10)
	evs, pos, err := l.Replay(context.Background(), ids[2], ids[5], all)
	require.NoError(t, err)
	require.Equal(t, Known, pos)
	require.Len(t, evs, 3)
	require.Equal(t, ids[3], evs[0].ID)
	require.Equal(t, ids[5], evs[2].ID)
}

func TestMemoryReplayFiltersTopics(t *testing.T) {
	t.Parallel()
	l := NewMemory(100, 0)
	started(t, l)
	a := appendN(t, l, "a", 2)
	b := appendN(t, l, "b", 2)
	evs, _, err := l.Replay(context.Background(), eventid.ID{Ms: a[0].Ms}, b[1], func(t string) bool { return t == "b" })
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, b[0], evs[0].ID)
	require.Equal(t, "b", evs[1].Topic)
}

func TestMemoryBoundedBySize(t *testing.T) {
	t.Parallel()
	l := NewMemory(3, 0)
	started(t, l)
	ids := appendN(t, l, "a", 1000)
	evs, pos, err := l.Replay(context.Background(), eventid.ID{}, ids[999], all)
	require.NoError(t, err)
	require.Equal(t, Gone, pos)
	require.Len(t, evs, 3)
	require.Equal(t, ids[997], evs[0].ID)
}

func TestMemoryBoundedByAge(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	l := newMemory(100, time.Minute, c.now)
	started(t, l)
	old := appendN(t, l, "a", 3)
	c.add(45 * time.Second)
	fresh := appendN(t, l, "a", 2)
	c.add(30 * time.Second) // the first three are now 75 s old

	evs, pos, err := l.Replay(context.Background(), old[0], fresh[1], all)
	require.NoError(t, err)
	require.Equal(t, Gone, pos)
	require.Len(t, evs, 2)
	require.Equal(t, fresh[0], evs[0].ID)
}

func TestMemoryIdempotencyKey(t *testing.T) {
	t.Parallel()
	l := NewMemory(2, 0)
	got := started(t, l)
	m := Message{Topic: "a", Type: "e", Data: []byte("x"), Key: "k1"}
	first, dup, err := l.Append(context.Background(), m)
	require.NoError(t, err)
	require.False(t, dup)
	again, dup, err := l.Append(context.Background(), m)
	require.NoError(t, err)
	require.True(t, dup)
	require.Equal(t, first, again)
	require.Eventually(t, func() bool { return len(got()) == 1 }, 5*time.Second, time.Millisecond)

	appendN(t, l, "a", 2) // evicts the keyed event: the key is free again
	third, dup, err := l.Append(context.Background(), m)
	require.NoError(t, err)
	require.False(t, dup)
	require.True(t, first.Less(third))
}

func TestMemoryEncodesOnce(t *testing.T) {
	t.Parallel()
	l := NewMemory(10, 0)
	started(t, l)
	id, _, err := l.Append(context.Background(), Message{Topic: "a", Type: "update", Data: []byte("x\ny")})
	require.NoError(t, err)
	evs, _, err := l.Replay(context.Background(), eventid.ID{Ms: id.Ms}, id, all)
	require.NoError(t, err)
	require.Equal(t, "id: "+id.String()+"\nevent: update\ndata: x\ndata: y\n\n", string(evs[0].Wire))
}

func TestMemoryRefusesAfterStop(t *testing.T) {
	t.Parallel()
	l := NewMemory(10, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx, func(*Event) {}); close(done) }()
	cancel()
	<-done
	_, _, err := l.Append(context.Background(), Message{Topic: "a", Type: "e"})
	require.ErrorIs(t, err, ErrUnavailable)
}
