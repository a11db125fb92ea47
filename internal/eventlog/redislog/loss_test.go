package redislog

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/logtest"
	"ssehub/internal/redistest"
)

// journal records, in order, what a reader delivered and when it reported
// a loss; its holdOn-th delivery (if holdOn > 0) blocks until release is
// closed.
type journal struct {
	holdOn  int
	holding chan struct{} // closed when that delivery began
	release chan struct{}

	mu        sync.Mutex
	delivered int
	entries   []string
}

func newJournal(holdOn int) *journal {
	return &journal{holdOn: holdOn, holding: make(chan struct{}), release: make(chan struct{})}
}

func (j *journal) note(s string) {
	j.mu.Lock()
	j.entries = append(j.entries, s)
	j.mu.Unlock()
}

func (j *journal) deliver(ev *event.Event) {
	j.note(ev.ID.String())
	j.mu.Lock()
	j.delivered++
	held := j.holdOn > 0 && j.delivered == j.holdOn
	j.mu.Unlock()
	if held {
		close(j.holding)
		<-j.release
	}
}

func (j *journal) lost() { j.note("lost") }

func (j *journal) read() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.entries...)
}

// waitFor waits until id was delivered.
func (j *journal) waitFor(t *testing.T, id eventid.ID) {
	t.Helper()
	require.Eventually(t, func() bool { return slices.Contains(j.read(), id.String()) }, logtest.WaitFor, time.Millisecond)
}

// runReader runs l's reader into j until the test ends.
func runReader(t *testing.T, l *Log, j *journal) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx, j.deliver)
	}()
	t.Cleanup(func() {
		cancel()
		_ = l.rdb.Close() // a blocked XREAD ends when its connection closes
		<-done
	})
}

// eventually retries one call against a Redis that just restarted (the
// test clients do not retry on a dropped connection).
func eventually[T any](t *testing.T, f func() (T, error)) T {
	t.Helper()
	var v T
	require.Eventually(t, func() bool {
		var err error
		v, err = f()
		return err == nil
	}, logtest.WaitFor, time.Millisecond)
	return v
}

func appendOne(l *Log) func() (eventid.ID, error) {
	return func() (eventid.ID, error) {
		id, _, err := l.Append(context.Background(), event.Message{Topic: "a", Type: "e"})
		return id, err
	}
}

func place(t *testing.T, l *Log, after eventid.ID) eventlog.Position {
	t.Helper()
	return eventually(t, func() (eventlog.Position, error) {
		pl, err := l.place(context.Background(), after)
		return pl.pos, err
	})
}

// Redis is restored from an older snapshot and an instance that never saw
// the lost ids appends first (it cannot tell anything is missing). The
// instance that did see them still finds the hole when a client resumes
// from before it, and from then on every instance does.
func TestRedisLossFoundAfterAnotherInstanceAppended(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	kept := logtest.AppendTo(t, a, "a", 2)
	require.NoError(t, a.rdb.Save(context.Background()).Err())
	logtest.AppendTo(t, a, "a", 2)
	srv.Stop(t, false) // the file on disk stays the SAVE above
	srv.Start(t)

	fresh := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	eventually(t, appendOne(fresh))
	require.Equal(t, eventlog.Gone, place(t, a, kept[0]), "the instance that saw the lost ids")
	other := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	require.Equal(t, eventlog.Gone, place(t, other, kept[0]), "any instance, once it was found")
}

// A reader that had delivered only what survived a restore, while another
// instance found the loss: it reports the loss before it delivers anything
// appended after the restore, so its live clients are told (they would
// otherwise go from the last survivor straight to the new events).
func TestRedisReaderReportsALossFoundElsewhere(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	j := newJournal(2)
	behind := newTestRedis(t, srv, Options{Prefix: "t", Size: 100, OnLost: j.lost})
	runReader(t, behind, j)
	a := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	kept := logtest.AppendTo(t, a, "a", 2)
	<-j.holding
	require.NoError(t, a.rdb.Save(context.Background()).Err())
	logtest.AppendTo(t, a, "a", 2)
	srv.Stop(t, false)
	srv.Start(t)

	next := eventually(t, appendOne(a)) // a's append finds and marks the loss
	close(j.release)
	j.waitFor(t, next)
	require.Equal(t, []string{kept[0].String(), kept[1].String(), "lost", next.String()}, j.read())
}

// After FLUSHALL, an instance whose reader had not looked yet appended
// after another instance did: the lost mark stays below what was appended
// after the flush, so a client holding such an id resumes without a reset.
func TestRedisFlushMarkStaysBelowNewIDs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	j := newJournal(1)
	slow := newTestRedis(t, srv, Options{Prefix: "t", Size: 100, OnLost: j.lost})
	runReader(t, slow, j)
	other := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	got := running(t, other)
	before := eventually(t, appendOne(slow))
	<-j.holding
	require.Eventually(t, func() bool { return len(got()) == 1 }, logtest.WaitFor, time.Millisecond)

	require.NoError(t, slow.rdb.FlushAll(context.Background()).Err())
	first := eventually(t, appendOne(other))
	second := eventually(t, appendOne(slow))
	close(j.release)
	j.waitFor(t, second)
	require.Equal(t, []string{before.String(), "lost", first.String(), second.String()}, j.read())

	require.Equal(t, eventlog.Known, place(t, other, first), "an id issued after the flush")
	require.Equal(t, eventlog.Gone, place(t, other, before), "an id from before it")
}

// Redis loses entries while a replay is being written (a catch-up or a
// resume that takes the client a while): the next page finds the hole and
// the replay ends with ErrBehind, so the client resumes and is told, instead
// of the replay ending quietly where the restored stream ends and live
// events following after the hole.
func TestRedisReplayEndsWhenRedisLosesEntriesUnderIt(t *testing.T) {
	t.Parallel()
	for name, lose := range map[string]func(t *testing.T, srv *redistest.Server, l *Log){
		"flushall": func(t *testing.T, _ *redistest.Server, l *Log) {
			require.NoError(t, l.rdb.FlushAll(context.Background()).Err())
		},
		"restore": func(t *testing.T, srv *redistest.Server, l *Log) {
			srv.Stop(t, false)
			srv.Start(t)
			eventually(t, func() (string, error) { return l.rdb.Ping(context.Background()).Result() })
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			l := newTestRedis(t, srv, Options{Prefix: "t", Size: 1000})
			kept := logtest.AppendTo(t, l, "a", 1)
			require.NoError(t, l.rdb.Save(context.Background()).Err())
			later := logtest.AppendTo(t, l, "a", 2*eventlog.PageSize)
			pages := 0
			err := l.Replay(context.Background(), kept[0], later[len(later)-1], logtest.All,
				func(eventlog.Position) error { return nil },
				func([]*event.Event) error {
					if pages++; pages == 1 {
						lose(t, srv, l)
					}
					return nil
				})
			require.ErrorIs(t, err, eventlog.ErrBehind)
			require.Equal(t, 1, pages)
		})
	}
}

func (j *journal) losses() int {
	n := 0
	for _, e := range j.read() {
		if e == "lost" {
			n++
		}
	}
	return n
}

// readerWithTwo starts Redis and a log whose reader reports into a journal,
// and appends two events it has delivered.
func readerWithTwo(t *testing.T) (*redistest.Server, *journal, *Log, []eventid.ID) {
	t.Helper()
	srv := redistest.Start(t)
	j := newJournal(0)
	l := newTestRedis(t, srv, Options{Prefix: "t", Size: 100, OnLost: j.lost})
	runReader(t, l, j)
	ids := logtest.AppendTo(t, l, "a", 2)
	j.waitFor(t, ids[1])
	return srv, j, l, ids
}

// One restore is reported once: the reader's own high-water mark, lost with
// the restore, is that loss and not a new one when the next batch comes
// (else every client would be cut a second time).
func TestRedisRestoreReportedOnce(t *testing.T) {
	t.Parallel()
	srv, j, a, _ := readerWithTwo(t)
	require.NoError(t, a.rdb.Save(context.Background()).Err())
	gone := logtest.AppendTo(t, a, "a", 2)
	j.waitFor(t, gone[1])
	srv.Stop(t, false)
	srv.Start(t)
	require.Eventually(t, func() bool { return j.losses() == 1 }, logtest.WaitFor, time.Millisecond)

	next := eventually(t, appendOne(newTestRedis(t, srv, Options{Prefix: "t", Size: 100})))
	j.waitFor(t, next)
	require.Equal(t, 1, j.losses(), "%v", j.read())
}

// A snapshot without the epoch marker (taken before it was set, or with it
// evicted) still holds old entries: the changed marker must not put the
// mark on them, or a resume from one of them on an instance that never saw
// the lost ids would continue past the hole.
func TestRedisChangedEpochKeepsTheMarkAboveSurvivors(t *testing.T) {
	t.Parallel()
	srv, j, a, kept := readerWithTwo(t)
	ctx := context.Background()
	epoch, err := a.rdb.Get(ctx, "t:epoch").Result()
	require.NoError(t, err)
	require.NoError(t, a.rdb.Del(ctx, "t:epoch").Err())
	require.NoError(t, a.rdb.Save(ctx).Err())
	require.NoError(t, a.rdb.Set(ctx, "t:epoch", epoch, 0).Err())
	gone := logtest.AppendTo(t, a, "a", 2)
	j.waitFor(t, gone[1])
	srv.Stop(t, false)
	srv.Start(t)
	require.Eventually(t, func() bool { return j.losses() == 1 }, logtest.WaitFor, time.Millisecond)

	other := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	require.Equal(t, eventlog.Gone, place(t, other, kept[0]))
}

// A hand-edited lost mark that is no id counts as none: a loss found
// afterwards still raises it, and appends and replays go on.
func TestRedisMalformedMarkCountsAsNone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	ids := logtest.AppendTo(t, l, "a", 2)
	ctx := context.Background()
	require.NoError(t, l.rdb.Del(ctx, "t:events").Err()) // lost, as FLUSHALL would
	require.NoError(t, l.rdb.Set(ctx, "t:lost", "0", 0).Err())
	logtest.AppendTo(t, l, "a", 1)
	require.Equal(t, ids[1].String(), l.rdb.Get(ctx, "t:lost").Val())
	require.Equal(t, eventlog.Gone, place(t, l, ids[0]))
}

// Two restores, each from a snapshot taken after the previous one: an id
// from before both has a hole after it, then history, then another hole.
// The reset comes first and only what follows the last hole comes after it.
func TestRedisTwoLossesOneResetThenWhole(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l := newTestRedis(t, srv, Options{Prefix: "t", Size: 100})
	ctx := context.Background()
	restore := func() {
		srv.Stop(t, false) // back to the last SAVE
		srv.Start(t)
	}
	old := logtest.AppendTo(t, l, "a", 1)
	require.NoError(t, l.rdb.Save(ctx).Err())
	logtest.AppendTo(t, l, "a", 2)
	restore()
	between := eventually(t, appendOne(l))
	require.NoError(t, l.rdb.Save(ctx).Err())
	logtest.AppendTo(t, l, "a", 2)
	restore()
	next := eventually(t, appendOne(l))

	evs, pos, err := logtest.ReplayAll(t, l, old[0], next, logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Gone, pos)
	require.Equal(t, []eventid.ID{next}, ids(evs), "not %s, which sits between the holes", between)
}
