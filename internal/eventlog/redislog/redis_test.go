package redislog

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/logtest"
	"ssehub/internal/redistest"
)

func TestRedisInstancesShareIDs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	b := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	running(t, a)
	gotB := running(t, b)
	ids := logtest.AppendTo(t, a, "x", 3)
	require.Eventually(t, func() bool { return len(gotB()) == 3 }, logtest.WaitFor, time.Millisecond)
	for i, ev := range gotB() {
		require.Equal(t, ids[i], ev.ID)
	}
}

func TestRedisKeyPrefixSeparatesLogs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := newTestRedis(t, srv, Options{Prefix: "one", Size: 100})
	b := newTestRedis(t, srv, Options{Prefix: "two", Size: 100})
	running(t, a)
	running(t, b)
	ids := logtest.AppendTo(t, a, "x", 2)
	evs, pos, err := logtest.ReplayAll(t, b, eventid.ID{}, ids[1], logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Gone, pos)
	require.Empty(t, evs)
}

// An instance's hub position can lag the stream: a client that resumes with
// an id another instance already delivered is placed, not reset.
func TestRedisReplayAcceptsIDIssuedElsewhere(t *testing.T) {
	t.Parallel()
	l := newTestRedis(t, redistest.Start(t), Options{Prefix: "t", Size: 100})
	running(t, l)
	ids := logtest.AppendTo(t, l, "a", 5)
	evs, pos, err := logtest.ReplayAll(t, l, ids[4], ids[1], logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Known, pos)
	require.Empty(t, evs)
}

// Entries from before the reader started never come live, so replay covers
// them whatever position the hub reports.
func TestRedisReplayCoversEntriesBeforeReaderStart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	writer := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	running(t, writer)
	ids := logtest.AppendTo(t, writer, "a", 3)
	// A log starts a millisecond before it is made: wait until that is
	// past the entries, or the newest could come live instead.
	require.Eventually(t, func() bool { return ids[2].Ms < uint64(time.Now().UnixMilli()-1) }, logtest.WaitFor, time.Millisecond)

	late := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	running(t, late)
	evs, pos, err := logtest.ReplayAll(t, late, ids[0], eventid.ID{}, logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Known, pos)
	require.Len(t, evs, 2)
	require.Equal(t, ids[2], evs[1].ID)
}

func TestRedisTrimsByAge(t *testing.T) {
	t.Parallel()
	l := newTestRedis(t, redistest.Start(t), Options{Prefix: "t", Size: 1000, MaxAge: 20 * time.Millisecond})
	running(t, l)
	old := logtest.AppendTo(t, l, "a", 3)
	// Stream ids carry Redis's clock: append until one is past the age.
	latest := old[2]
	for latest.Ms <= old[2].Ms+20 {
		latest = logtest.AppendTo(t, l, "a", 1)[0]
	}
	latest = logtest.AppendTo(t, l, "a", 2*logtest.NodeEntries)[2*logtest.NodeEntries-1]
	evs, pos, err := logtest.ReplayAll(t, l, old[0], latest, logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Gone, pos)
	// Approximate trimming drops whole nodes: an old entry may share a node
	// with a young one, so only the first node is sure to be gone.
	require.NotEmpty(t, evs)
	require.True(t, old[logtest.NodeEntries-1].Less(evs[0].ID))
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var ups []bool
	upCh := make(chan bool, 16)
	l := newTestRedis(t, srv, Options{Prefix: "t", Size: 100, OnUp: func(up bool) { upCh <- up }})
	running(t, l)
	require.True(t, <-upCh)
	require.True(t, l.Up())

	srv.Kill()
	_, _, err := l.Append(context.Background(), event.Message{Topic: "a", Type: "e"})
	require.ErrorIs(t, err, eventlog.ErrUnavailable)
	_, _, err = logtest.ReplayAll(t, l, eventid.ID{Ms: 1}, eventid.ID{Ms: 2}, logtest.All)
	require.ErrorIs(t, err, eventlog.ErrUnavailable)
	select {
	case up := <-upCh:
		ups = append(ups, up)
	case <-time.After(logtest.WaitFor):
		t.Fatal("down not reported")
	}
	require.Equal(t, []bool{false}, ups)
	require.False(t, l.Up())
}

// Redis stopped with its data saved: the reader comes back at its position
// and delivers every entry, no reset.
func TestRedisReaderResumesAfterRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var lost atomic.Int32
	upCh := make(chan bool, 16)
	l := newTestRedis(t, srv, Options{Prefix: "t", Size: 100,
		OnUp: func(up bool) { upCh <- up }, OnLost: func() { lost.Add(1) }})
	got := running(t, l)
	require.True(t, <-upCh)
	before := logtest.AppendTo(t, l, "a", 3)

	srv.Stop(t, true)
	require.False(t, <-upCh)
	srv.Start(t)
	require.True(t, <-upCh)
	after := logtest.AppendTo(t, l, "a", 3)

	want := append(before, after...)
	require.Eventually(t, func() bool { return len(got()) >= len(want) }, logtest.WaitFor, time.Millisecond)
	ids := make([]eventid.ID, 0, len(want))
	for _, ev := range got() {
		ids = append(ids, ev.ID)
	}
	require.Equal(t, want, ids)
	require.Zero(t, lost.Load())
}

// Redis restarted without its data: the reader reports the loss once and
// goes on delivering what is appended afterwards.
func TestRedisReaderDetectsLostData(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	lost := make(chan struct{}, 4)
	upCh := make(chan bool, 16)
	l := newTestRedis(t, srv, Options{Prefix: "t", Size: 100,
		OnUp: func(up bool) { upCh <- up }, OnLost: func() { lost <- struct{}{} }})
	got := running(t, l)
	require.True(t, <-upCh)
	before := logtest.AppendTo(t, l, "a", 3)
	require.Eventually(t, func() bool { return len(got()) == 3 }, logtest.WaitFor, time.Millisecond)

	srv.Stop(t, false)
	require.False(t, <-upCh)
	srv.Start(t)
	require.True(t, <-upCh)
	select {
	case <-lost:
	case <-time.After(logtest.WaitFor):
		t.Fatal("lost data not detected")
	}
	after := logtest.AppendTo(t, l, "a", 2)
	require.Eventually(t, func() bool { return len(got()) == 5 }, logtest.WaitFor, time.Millisecond)
	require.Equal(t, after[1], got()[4].ID)

	// A client from before the loss is told so.
	_, pos, err := logtest.ReplayAll(t, l, before[2], after[1], logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Gone, pos)
	require.Empty(t, lost)
}

func TestRedisRejectsUnencodableType(t *testing.T) {
	t.Parallel()
	l := newTestRedis(t, redistest.Start(t), Options{Prefix: "t", Size: 100})
	running(t, l)
	_, _, err := l.Append(context.Background(), event.Message{Topic: "a", Type: "x\ny"})
	require.Error(t, err)
	require.NotErrorIs(t, err, eventlog.ErrUnavailable)
}

// A replay waits for a free slot, and gives up when its context ends.
func TestRedisReplayWaitsForASlot(t *testing.T) {
	t.Parallel()
	l := newTestRedis(t, redistest.Start(t), Options{Prefix: "t", Size: 100, Replays: 1})
	running(t, l)
	ids := logtest.AppendTo(t, l, "a", 3)
	l.replays <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := l.Replay(ctx, ids[0], ids[2], logtest.All, func(eventlog.Position) error { return nil }, func([]*event.Event) error { return nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, eventlog.ErrUnavailable)

	<-l.replays
	evs, pos, err := logtest.ReplayAll(t, l, ids[0], ids[2], logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Known, pos)
	require.Len(t, evs, 2)
}

// A replay holds its slot only while it reads: one blocked on a slow
// client does not stop another.
func TestRedisReplaySlotFreeWhileWriting(t *testing.T) {
	t.Parallel()
	l := newTestRedis(t, redistest.Start(t), Options{Prefix: "t", Size: 100, Replays: 1})
	running(t, l)
	ids := logtest.AppendTo(t, l, "a", 3)
	inPage, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- l.Replay(context.Background(), ids[0], ids[2], logtest.All, func(eventlog.Position) error { return nil },
			func([]*event.Event) error { close(inPage); <-unblock; return nil })
	}()
	<-inPage
	evs, _, err := logtest.ReplayAll(t, l, ids[0], ids[2], logtest.All)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	close(unblock)
	require.NoError(t, <-done)
}

// Redis restarts from a snapshot older than its newest entries, and an
// entry is appended before the reader is back: the reader still reports the
// loss, new ids are above the lost ones, and a lost id is Gone, replayed
// from after itself.
func TestRedisRestoreFromOlderSnapshot(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	lost := make(chan struct{}, 4)
	l := newTestRedis(t, srv, Options{Prefix: "t", Size: 100, OnLost: func() { lost <- struct{}{} }})
	got := running(t, l)
	kept := logtest.AppendTo(t, l, "a", 2)
	require.NoError(t, l.rdb.Save(context.Background()).Err())
	gone := logtest.AppendTo(t, l, "a", 2)
	require.Eventually(t, func() bool { return len(got()) == 4 }, logtest.WaitFor, time.Millisecond)

	srv.Stop(t, false) // the file on disk stays the SAVE above
	srv.Start(t)
	var next eventid.ID
	require.Eventually(t, func() bool {
		id, _, err := l.Append(context.Background(), event.Message{Topic: "a", Type: "e"})
		next = id
		return err == nil
	}, logtest.WaitFor, time.Millisecond)
	require.True(t, gone[1].Less(next), "id %s reuses the lost range up to %s", next, gone[1])
	select {
	case <-lost:
	case <-time.After(logtest.WaitFor):
		t.Fatal("the restore was not detected")
	}

	for _, id := range gone {
		evs, pos, err := logtest.ReplayAll(t, l, id, next, logtest.All)
		require.NoError(t, err)
		require.Equal(t, eventlog.Gone, pos, id.String())
		require.Len(t, evs, 1)
		require.Equal(t, next, evs[0].ID)
	}
	// An id that survived, followed by lost ones, is Gone too: the client
	// gets the reset, then only what follows the loss, so nothing after
	// the reset hides a hole (what was kept after its id, before the hole,
	// is history the reset told it to fetch again).
	evs, pos, err := logtest.ReplayAll(t, l, kept[0], next, logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Gone, pos)
	require.Equal(t, []eventid.ID{next}, ids(evs))
	_, pos, err = logtest.ReplayAll(t, l, next.Next(), next, logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Unknown, pos, "an id above everything issued")
}

func ids(evs []*event.Event) []eventid.ID {
	out := make([]eventid.ID, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}
