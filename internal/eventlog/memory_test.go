package eventlog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/logtest"
)

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

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	logtest.Contract(t, func(_ *testing.T, size int, maxAge time.Duration) eventlog.Log {
		return eventlog.NewMemory(eventlog.MemoryOptions{Size: size, MaxAge: maxAge})
	})
}

func TestMemoryIDsAreOrderedAndCarryStartTime(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	l := eventlog.NewMemoryAt(eventlog.MemoryOptions{Size: 10}, c.now)
	logtest.Running(t, l)
	ids := logtest.AppendTo(t, l, "a", 3)
	require.Equal(t, "1700000000000-1", ids[0].String())
	require.True(t, ids[0].Less(ids[1]) && ids[1].Less(ids[2]))
}

func TestMemoryReplayPositions(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	l := eventlog.NewMemoryAt(eventlog.MemoryOptions{Size: 5}, c.now)
	logtest.Running(t, l)
	ids := logtest.AppendTo(t, l, "a", 8) // ids[0..2] evicted, ids[3..7] retained
	last := ids[7]

	cases := []struct {
		name  string
		after eventid.ID
		pos   eventlog.Position
		first int // index of the first replayed id, -1 for none
		n     int
	}{
		{"inside", ids[4], eventlog.Known, 5, 3},
		{"newest", ids[7], eventlog.Known, -1, 0},
		{"just-evicted-edge", ids[2], eventlog.Known, 3, 5},
		{"evicted", ids[1], eventlog.Gone, 3, 5},
		{"earlier-process", eventid.ID{Ms: 1_600_000_000_000, Seq: 99}, eventlog.Gone, 3, 5},
		{"later-than-issued", last.Next(), eventlog.Unknown, -1, 0},
		{"later-process", eventid.ID{Ms: 1_800_000_000_000, Seq: 1}, eventlog.Unknown, -1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, pos, err := logtest.ReplayAll(t, l, tc.after, last, logtest.All)
			require.NoError(t, err)
			require.Equal(t, tc.pos, pos)
			require.Len(t, evs, tc.n)
			for i, ev := range evs {
				require.Equal(t, ids[tc.first+i], ev.ID)
			}
		})
	}
}

func TestMemoryBoundedBySize(t *testing.T) {
	t.Parallel()
	l := eventlog.NewMemory(eventlog.MemoryOptions{Size: 3})
	logtest.Running(t, l)
	ids := logtest.AppendTo(t, l, "a", 1000)
	evs, pos, err := logtest.ReplayAll(t, l, eventid.ID{}, ids[999], logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Gone, pos)
	require.Len(t, evs, 3)
	require.Equal(t, ids[997], evs[0].ID)
}

func TestMemoryBoundedByAge(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.UnixMilli(1_700_000_000_000)}
	l := eventlog.NewMemoryAt(eventlog.MemoryOptions{Size: 100, MaxAge: time.Minute}, c.now)
	logtest.Running(t, l)
	old := logtest.AppendTo(t, l, "a", 3)
	c.add(45 * time.Second)
	fresh := logtest.AppendTo(t, l, "a", 2)
	c.add(30 * time.Second) // the first three are now 75 s old

	evs, pos, err := logtest.ReplayAll(t, l, old[0], fresh[1], logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Gone, pos)
	require.Len(t, evs, 2)
	require.Equal(t, fresh[0], evs[0].ID)
}

func TestMemoryEncodesOnce(t *testing.T) {
	t.Parallel()
	l := eventlog.NewMemory(eventlog.MemoryOptions{Size: 10})
	logtest.Running(t, l)
	id, _, err := l.Append(context.Background(), event.Message{Topic: "a", Type: "update", Data: []byte("x\ny")})
	require.NoError(t, err)
	evs, _, err := logtest.ReplayAll(t, l, eventid.ID{Ms: id.Ms}, id, logtest.All)
	require.NoError(t, err)
	require.Equal(t, "id: "+id.String()+"\nevent: update\ndata: x\ndata: y\n\n", string(evs[0].Wire))
}

func TestMemoryRefusesAfterStop(t *testing.T) {
	t.Parallel()
	l := eventlog.NewMemory(eventlog.MemoryOptions{Size: 10})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx, func(*event.Event) {}); close(done) }()
	cancel()
	<-done
	_, _, err := l.Append(context.Background(), event.Message{Topic: "a", Type: "e"})
	require.ErrorIs(t, err, eventlog.ErrUnavailable)
}
