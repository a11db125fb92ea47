package pool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
	"ssehub/internal/socket"
	"ssehub/internal/sse"
	"ssehub/internal/stream"
	"ssehub/internal/writer"
)

const wait = 10 * time.Second

// testSendBuffer bounds the server's socket buffers, so a socket that is
// full stays full while its client does not read.
const testSendBuffer = 16 << 10

// gone is an Observer that reports every stream end on a channel.
type gone chan hub.Reason

func (gone) Clients(int)                 {}
func (gone) Delivered(int)               {}
func (g gone) Disconnected(r hub.Reason) { g <- r }

func (g gone) next(t *testing.T) hub.Reason {
	t.Helper()
	select {
	case r := <-g:
		return r
	case <-time.After(wait):
		t.Fatal("no stream ended")
		return ""
	}
}

type fixture struct {
	expires atomic.Int64 // unix nanos a new stream's token expires, or 0
	ended   chan struct{}
	hub     *hub.Hub
	log     *eventlog.Memory
	// gate holds back the log's deliveries to the hub while a test holds
	// it, so they reach the hub in one burst, as the Redis reader's do.
	gate      sync.RWMutex
	delivered atomic.Int64 // events the log handed to the hub
	replays   atomic.Int64 // catch-ups and resumes read from the log
	pool      *Pool
	gone      gone
	adopted   chan bool
	srv       *httptest.Server
	// pageDelay slows every page of a catch-up, as Redis's round trips do,
	// so live events queue up while a catch-up is still writing.
	pageDelay atomic.Int64
}

// slowHistory is the fixture's log as the writers catch up from it.
type slowHistory struct{ f *fixture }

func (h slowHistory) Replay(ctx context.Context, after, upto eventid.ID, match func(string) bool,
	start func(eventlog.Position) error, page func([]*event.Event) error) error {
	h.f.replays.Add(1)
	return h.f.log.Replay(ctx, after, upto, match, start, func(events []*event.Event) error {
		time.Sleep(time.Duration(h.f.pageDelay.Load()))
		return page(events)
	})
}

// start runs a hub, a pool and a real HTTP server whose handler does what
// the /sse handler does: subscribe, preamble, then hand the stream over.
func start(t testing.TB, clientBuffer int, tls bool) *fixture {
	return startWith(t, clientBuffer, tls, 100, wait)
}

func startWith(t testing.TB, clientBuffer int, tls bool, capacity int, writeTimeout time.Duration) *fixture {
	t.Helper()
	f := &fixture{gone: make(gone, 1024), adopted: make(chan bool, 1024), ended: make(chan struct{}, 1024)}
	f.hub = hub.New(hub.Options{ClientBuffer: clientBuffer, Heartbeat: time.Hour, Observer: f.gone})
	f.log = eventlog.NewMemory(eventlog.MemoryOptions{Size: 10_000})
	f.pool = New(Options{Hub: f.hub, Log: slowHistory{f}, Capacity: capacity, Retry: time.Second, WriteTimeout: writeTimeout})
	require.NotNil(t, f.pool)
	ctx, cancel := context.WithCancel(context.Background())
	hubDone, poolDone, logDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { f.hub.Run(ctx); close(hubDone) }()
	go func() { f.pool.Run(ctx); close(poolDone) }()
	go func() {
		_ = f.log.Run(ctx, func(ev *event.Event) {
			f.gate.RLock()
			f.gate.RUnlock()
			f.hub.Deliver(ev)
			f.delivered.Add(1)
		})
		close(logDone)
	}()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := f.hub.Subscribe([]string{"a"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		o := &owner{f: f, c: c}
		st, err := stream.Open(w, r, time.Second, writeTimeout)
		if err != nil {
			o.Ended(hub.ReasonClient)
			return
		}
		a := Adoption{Owner: o}
		if ns := f.expires.Load(); ns != 0 {
			a.Expires = time.Unix(0, ns)
		}
		// ?goroutine keeps the stream on this goroutine, as TLS would.
		adopted := !r.URL.Query().Has("goroutine") && f.pool.Adopt(w, r, c, a)
		f.adopted <- adopted
		if !adopted {
			o.Ended(st.Pump(r.Context(), c, eventid.ID{}, stream.CatchUp{Hub: f.hub, Log: slowHistory{f}}))
		}
	})
	if tls {
		f.srv = httptest.NewUnstartedServer(handler)
		f.srv.Config.ConnContext = socket.ConnContext(testSendBuffer)
		f.srv.StartTLS()
	} else {
		f.srv = httptest.NewUnstartedServer(handler)
		f.srv.Config.ConnContext = socket.ConnContext(testSendBuffer)
		f.srv.Start()
	}
	t.Cleanup(func() {
		f.srv.Close()
		cancel()
		<-hubDone
		<-poolDone
		<-logDone
	})
	return f
}

// owner is what the session is to a stream in the service: it takes the
// client out of the hub and reports the end.
type owner struct {
	f *fixture
	c *hub.Client
}

func (o *owner) Ended(r hub.Reason) {
	o.f.hub.Unsubscribe(o.c, r)
	o.f.ended <- struct{}{}
}

// dial opens a raw stream and reads up to the end of the preamble chunk.
func (f *fixture) dial(t testing.TB) (net.Conn, *bufio.Reader) {
	t.Helper()
	return f.dialWith(t, net.Dialer{}, "")
}

// smallBuffer dials with a small receive buffer, so a client that stops
// reading soon leaves the server's socket full.
var smallBuffer = net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
	return rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
}}

func (f *fixture) dialSmall(t testing.TB) (net.Conn, *bufio.Reader) {
	t.Helper()
	return f.dialWith(t, smallBuffer, "")
}

// dialWith dials with d and asks for /sse with query ("?goroutine" keeps
// the stream on its handler's goroutine, "" lets the pool take it).
func (f *fixture) dialWith(t testing.TB, d net.Dialer, query string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, br, _ := f.dialUntil(t, d, query, time.Now().Add(wait))
	return c, br
}

// dialUntil is dialWith with the connection's deadline, returning the
// stream's reader too.
func (f *fixture) dialUntil(t testing.TB, d net.Dialer, query string, deadline time.Time) (net.Conn, *bufio.Reader, *sse.Reader) {
	t.Helper()
	c, err := d.Dial("tcp", f.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(deadline))
	_, err = io.WriteString(c, "GET /sse"+query+" HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	require.Equal(t, query == "", <-f.adopted)
	r := sse.NewReader(resp.Body)
	frame, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, "ok", frame.Comment)
	return c, br, r
}

// queued is how many events wait in the queue of the one stream the pool holds.
func (f *fixture) queued() int {
	f.pool.mu.Lock()
	defer f.pool.mu.Unlock()
	for _, c := range f.pool.conns {
		return len(c.client.Events())
	}
	return 0
}

func wireEvent(t testing.TB, seq uint64, data string) *event.Event {
	t.Helper()
	ev, err := event.New(eventid.ID{Ms: 1, Seq: seq}, event.Message{Topic: "a", Type: "e", Data: []byte(data)}, 0)
	require.NoError(t, err)
	return ev
}

func TestPoolNoticesClientLeaving(t *testing.T) {
	t.Parallel()
	f := start(t, 8, false)
	c, _ := f.dial(t)
	require.Equal(t, 1, f.hub.Len())
	require.NoError(t, c.Close())
	require.Equal(t, hub.ReasonClient, f.gone.next(t))
	require.Equal(t, 0, f.hub.Len())
}

// TestPoolEndsStreamWhenTokenExpires: the stream ends (reason auth) with a
// terminated body, and its handler's OnEnd runs, e.g. to free a per-address slot.
func TestPoolEndsStreamWhenTokenExpires(t *testing.T) {
	t.Parallel()
	f := start(t, 8, false)
	f.expires.Store(time.Now().Add(100 * time.Millisecond).UnixNano())
	r := f.openAdopted(t)
	_, err := r.Next()
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, hub.ReasonAuth, f.gone.next(t))
	select {
	case <-f.ended:
	case <-time.After(wait):
		t.Fatal("OnEnd did not run")
	}
}

func TestPoolDeliversChunkedEvents(t *testing.T) {
	t.Parallel()
	f := start(t, 8, false)
	r := f.openAdopted(t)
	for seq := uint64(1); seq <= 3; seq++ {
		f.hub.Deliver(wireEvent(t, seq, "line1\nline2"))
	}
	for seq := uint64(1); seq <= 3; seq++ {
		frame, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, eventid.ID{Ms: 1, Seq: seq}.String(), frame.ID)
		require.Equal(t, "line1\nline2", frame.Data)
	}
}

// TestPoolShutdownEndsBody: on drain a taken-over stream gets a last retry
// and a terminated chunked body, so the client sees a clean end (io.EOF, not
// io.ErrUnexpectedEOF).
func TestPoolShutdownEndsBody(t *testing.T) {
	t.Parallel()
	f := start(t, 8, false)
	r := f.openAdopted(t)
	r.Retry = 0

	f.hub.Drain()
	_, err := r.Next()
	require.ErrorIs(t, err, io.EOF)
	require.GreaterOrEqual(t, r.Retry, 1000, "no retry line before the end")
	require.Equal(t, hub.ReasonShutdown, f.gone.next(t))

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	f.pool.Wait(ctx)
	require.NoError(t, ctx.Err(), "pool still holds streams after the drain")
}

// TestPoolResyncSendsClientsBackSpreadOut: when the shared log lost events,
// every stream ends with a jittered retry so clients resume, not all at once.
func TestPoolResyncSendsClientsBackSpreadOut(t *testing.T) {
	t.Parallel()
	f := start(t, 8, false)
	r := f.openAdopted(t)
	r.Retry = 0

	f.hub.CutAll(hub.ReasonResync)
	_, err := r.Next()
	require.ErrorIs(t, err, io.EOF)
	require.GreaterOrEqual(t, r.Retry, 1000, "no retry before the end")
	require.Equal(t, hub.ReasonResync, f.gone.next(t))
}

// TestCutsClientThatStopsReading: a client that reads nothing fills its
// socket and is cut off as slow once its write made no progress for the
// write timeout, with a reset (it would never read a last frame), on both
// writers; nobody else waits for it. The goroutine writer once ended it with
// a FIN: net/http closes a connection whose write failed before the writer
// can reset it.
func TestCutsClientThatStopsReading(t *testing.T) {
	t.Parallel()
	bothWriters(t, func(t *testing.T, query string) {
		f := startWith(t, 4, false, 100, 300*time.Millisecond)
		c, _ := f.dialWith(t, net.Dialer{}, query)
		big := strings.Repeat("x", 60<<10)
		for seq := uint64(1); ; seq++ {
			require.Less(t, seq, uint64(10_000), "never cut off")
			f.hub.Deliver(wireEvent(t, seq, big))
			select {
			case r := <-f.gone:
				require.Equal(t, hub.ReasonSlow, r)
				_, err := io.Copy(io.Discard, c)
				require.ErrorIs(t, err, syscall.ECONNRESET, "a stalled client's connection is reset")
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
}

// TestCutsClientThatStopsReadingWhileCatchingUp: history a lagging stream
// catches up from the log is written under the same stall rule as live
// events: a client that stops reading then is cut as slow, with a reset.
func TestCutsClientThatStopsReadingWhileCatchingUp(t *testing.T) {
	t.Parallel()
	bothWriters(t, func(t *testing.T, query string) {
		f := startWith(t, 4, false, 100, 300*time.Millisecond)
		c, _ := f.dialWith(t, net.Dialer{}, query)
		// Small events: the first batch fits the socket, so the
		// stream lags and catches up before the socket fills.
		bursts := make([][]string, 6)
		for i := range bursts {
			for j := range 500 {
				bursts[i] = append(bursts[i], fmt.Sprintf("%d.%d.%s", i, j, strings.Repeat("x", 2<<10)))
			}
		}
		stop := f.publish(t, bursts)
		defer stop()
		select {
		case r := <-f.gone:
			require.Equal(t, hub.ReasonSlow, r)
		case <-time.After(wait):
			t.Fatal("never cut off")
		}
		require.Positive(t, f.replays.Load(), "the stream never caught up from the log")
		_, err := io.Copy(io.Discard, c)
		require.ErrorIs(t, err, syscall.ECONNRESET, "a stalled client's connection is reset")
	})
}

// TestPoolEndsStreamCutWithFullQueue: a stream the hub cuts while its queue
// holds exactly a batch (here while its socket is full) ends on the wire as
// soon as the client reads again: every queued event, the last retry, the
// end of the body. The writer once drained the full batch, did not see the
// queue close, and left the stream open and silent for good.
func TestPoolEndsStreamCutWithFullQueue(t *testing.T) {
	t.Parallel()
	f := start(t, writer.MaxBatch, false)
	c, br := f.dialSmall(t)
	big := strings.Repeat("x", 60<<10)
	seq := uint64(0)
	// An event that stays queued means the writer holds a write the socket
	// cannot take.
	stuck := func() bool { return f.pool.waiting.Load() > 0 && f.queued() > 0 }
	for !stuck() {
		seq++
		require.Less(t, seq, uint64(10_000), "the socket never filled")
		f.hub.Deliver(wireEvent(t, seq, big))
		time.Sleep(time.Millisecond)
	}
	// Fill the queue one event at a time; should the writer still drain it
	// (the socket was not full yet after all), keep filling.
	for f.queued() < writer.MaxBatch {
		before := f.queued()
		seq++
		f.hub.Deliver(wireEvent(t, seq, "queued"))
		require.Eventually(t, func() bool { return f.queued() != before }, wait, time.Millisecond)
	}
	f.hub.CutAll(hub.ReasonResync)
	require.Equal(t, hub.ReasonResync, f.gone.next(t))

	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	resp := sse.NewReader(httputil.NewChunkedReader(br))
	var last sse.Frame
	for {
		frame, err := resp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if frame.ID != "" {
			last = frame
		}
	}
	require.Equal(t, eventid.ID{Ms: 1, Seq: seq}.String(), last.ID, "every queued event arrives before the end")
	require.GreaterOrEqual(t, resp.Retry, 1000, "no retry before the end")
}

// TestPoolLastFrameWaitsBehindAFullSocket: a stream that ends while its
// client is behind (its socket full, a write pending) gets its last frame
// after what the client is still reading, not instead of it: the events in
// order, then the end of the body. The pool once reset such a stream, and
// wrote the last frame of one whose socket was full at that instant without
// checking that it went out, so the client saw its stream cut mid-body.
func TestPoolLastFrameWaitsBehindAFullSocket(t *testing.T) {
	t.Parallel()
	f := start(t, 8, false)
	f.expires.Store(time.Now().Add(time.Hour).UnixNano())
	c, br := f.dialSmall(t)
	big := strings.Repeat("x", 60<<10)
	for seq := uint64(1); f.pool.waiting.Load() == 0; seq++ {
		require.Less(t, seq, uint64(10_000), "the socket never filled")
		f.hub.Deliver(wireEvent(t, seq, big))
		time.Sleep(time.Millisecond)
	}
	var conn *Conn
	f.pool.mu.Lock()
	for _, conn = range f.pool.conns {
		conn.expires = time.Now().UnixNano()
	}
	f.pool.mu.Unlock()
	require.Eventually(t, conn.expired.Load, wait, time.Millisecond)

	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	resp := sse.NewReader(httputil.NewChunkedReader(br))
	var seq uint64
	for {
		frame, err := resp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the stream did not end with the end of its body")
		if frame.ID != "" {
			seq++
			require.Equal(t, eventid.ID{Ms: 1, Seq: seq}.String(), frame.ID)
		}
	}
	require.NotZero(t, seq)
	require.Equal(t, hub.ReasonAuth, f.gone.next(t))
}

// TestStallRuleCountsFromTheLastProgress: a client that reads a long batch
// slowly but steadily has not stopped reading, though the batch takes longer
// than the write timeout to go out, on both writers. The pool once counted
// from the batch's first short write, and the goroutine gave the whole batch
// one deadline, so both cut such a client as slow.
func TestStallRuleCountsFromTheLastProgress(t *testing.T) {
	t.Parallel()
	bothWriters(t, func(t *testing.T, query string) {
		f := startWith(t, writer.MaxBatch, false, 100, time.Second)
		_, br := f.dialWith(t, smallBuffer, query)
		payload := strings.Repeat("x", 4<<10)
		for seq := uint64(1); seq <= writer.MaxBatch; seq++ {
			f.hub.Deliver(wireEvent(t, seq, payload))
		}
		// The client pauses for a fifth of the write timeout, so the
		// socket fills and the rest queues up for one batch, then reads
		// 8 KiB every 50 ms: the 256 KiB take over 1.5 s.
		time.Sleep(200 * time.Millisecond)
		r := sse.NewReader(httputil.NewChunkedReader(throttled{br, 8 << 10, 50 * time.Millisecond}))
		for seq := uint64(1); seq <= writer.MaxBatch; {
			frame, err := r.Next()
			require.NoError(t, err, "cut after %d of %d events", seq-1, writer.MaxBatch)
			if frame.ID != "" {
				require.Equal(t, eventid.ID{Ms: 1, Seq: seq}.String(), frame.ID)
				seq++
			}
		}
		select {
		case reason := <-f.gone:
			t.Fatalf("the stream ended (%s)", reason)
		default:
		}
	})
}

// throttled reads at most n bytes per read, each after a pause: a client that
// reads slowly but never stops.
type throttled struct {
	r     io.Reader
	n     int
	pause time.Duration
}

func (t throttled) Read(p []byte) (int, error) {
	time.Sleep(t.pause)
	return t.r.Read(p[:min(len(p), t.n)])
}

func TestPoolLeavesTLSStreamsToTheirGoroutine(t *testing.T) {
	t.Parallel()
	f := start(t, 8, true)
	resp, err := f.srv.Client().Get(f.srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.False(t, <-f.adopted)
	f.hub.Deliver(wireEvent(t, 1, "hi"))
	requireFirstEvent(t, resp, "hi")
}

func TestPoolAtCapacityLeavesStreamsToTheirGoroutine(t *testing.T) {
	t.Parallel()
	f := startWith(t, 8, false, 1, wait)
	f.dial(t)
	resp, err := http.Get(f.srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.False(t, <-f.adopted)
	f.hub.Deliver(wireEvent(t, 1, "hi"))
	requireFirstEvent(t, resp, "hi")
}

// openAdopted opens a stream, checks the pool took it over and reads its
// preamble; the body is closed at cleanup.
func (f *fixture) openAdopted(t *testing.T) *sse.Reader {
	t.Helper()
	return f.open(t, "", true)
}

// openGoroutine opens a stream its handler's goroutine keeps writing.
func (f *fixture) openGoroutine(t *testing.T) *sse.Reader {
	t.Helper()
	return f.open(t, "?goroutine", false)
}

func (f *fixture) open(t *testing.T, query string, adopted bool) *sse.Reader {
	t.Helper()
	resp, err := http.Get(f.srv.URL + query)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	require.Equal(t, adopted, <-f.adopted)
	r := sse.NewReader(resp.Body)
	_, err = r.Next()
	require.NoError(t, err)
	return r
}

// requireFirstEvent reads resp's stream up to its first event and checks its data.
func requireFirstEvent(t *testing.T, resp *http.Response, data string) {
	t.Helper()
	r := sse.NewReader(resp.Body)
	for {
		frame, err := r.Next()
		require.NoError(t, err)
		if !frame.IsComment {
			require.Equal(t, data, frame.Data)
			return
		}
	}
}

// TestPoolDeliveryDoesNotAllocate covers the whole hot path of a taken-over
// stream: hub fan-out, the writer's batch and its one write.
func TestPoolDeliveryDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	f := start(t, 8, false)
	c, br := f.dial(t)
	ev := wireEvent(t, 1, `{"seq":1}`)
	want := len(fmt.Sprintf("%x\r\n%s\r\n", len(ev.Wire), ev.Wire))
	buf := make([]byte, want)
	require.NoError(t, c.SetDeadline(time.Time{}))
	allocs := testing.AllocsPerRun(200, func() {
		f.hub.Deliver(ev)
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

// BenchmarkPoolDelivery is one event through the whole taken-over path:
// hub, writer, one write on a loopback socket, and the client's read.
func BenchmarkPoolDelivery(b *testing.B) {
	f := start(b, 8, false)
	c, br := f.dial(b)
	ev := wireEvent(b, 1, `{"seq":1,"ts":1795432486462000000}`)
	buf := make([]byte, len(fmt.Sprintf("%x\r\n%s\r\n", len(ev.Wire), ev.Wire)))
	require.NoError(b, c.SetDeadline(time.Time{}))
	b.ReportAllocs()
	for b.Loop() {
		f.hub.Deliver(ev)
		if _, err := io.ReadFull(br, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLaggingStreamsKeepOrder: bursts reach the hub all at once, as the
// Redis reader hands them over, and overflow small queues, so readers that
// keep up lag and catch up again and again while the hub keeps delivering;
// each reader still gets every event once, in order, from both writers.
func TestLaggingStreamsKeepOrder(t *testing.T) {
	t.Parallel()
	f := start(t, 8, false)
	const readers, rounds, each = 16, 10, 500
	streams := make([]*sse.Reader, readers)
	for i := range streams {
		if i%4 == 3 {
			streams[i] = f.openGoroutine(t)
		} else {
			streams[i] = f.openAdopted(t)
		}
	}
	bursts := make([][]string, rounds)
	for round := range bursts {
		for i := range each {
			bursts[round] = append(bursts[round], fmt.Sprintf("%d.%d", round, i))
		}
	}
	stop := f.publish(t, bursts)
	defer stop()
	var wg sync.WaitGroup
	for i, r := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last eventid.ID
			for n := 0; n < rounds*each; {
				frame, err := r.Next()
				if err != nil {
					t.Errorf("reader %d after %d events: %v", i, n, err)
					return
				}
				if frame.ID == "" {
					continue
				}
				id, err := eventid.Parse(frame.ID)
				if err != nil || !last.Less(id) {
					t.Errorf("reader %d, event %d: %s after %s", i, n, frame.ID, last)
					return
				}
				last = id
				n++
			}
		}()
	}
	wg.Wait()
}

// publish appends bursts from a goroutine, each reaching the hub all at
// once, as the Redis reader hands them over, and the next only once the hub
// has the last, so the log's queue never holds more than one; a burst must
// fit that queue (1,024 events). stop ends it early and waits for it.
func (f *fixture) publish(t testing.TB, bursts [][]string) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		var appended int64
		for _, data := range bursts {
			f.gate.Lock()
			for _, d := range data {
				m := event.Message{Topic: "a", Type: "n", Data: []byte(d)}
				if _, _, err := f.log.Append(context.Background(), m); err != nil {
					t.Error(err)
				}
			}
			f.gate.Unlock()
			appended += int64(len(data))
			for f.delivered.Load() < appended {
				select {
				case <-done:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}
	}()
	return sync.OnceFunc(func() {
		close(done)
		<-stopped
	})
}

// bothWriters runs test, in parallel, on a stream the pool takes over
// (query "") and on one its handler's goroutine keeps ("?goroutine").
func bothWriters(t *testing.T, test func(t *testing.T, query string)) {
	for name, query := range map[string]string{"taken-over": "", "goroutine": "?goroutine"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, query)
		})
	}
}
