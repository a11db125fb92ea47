package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/threading"

	"ssehub/internal/eventid"
	"ssehub/internal/hub"
)

// endOfBody is the last chunk of a chunked HTTP/1.1 body.
const endOfBody = "0\r\n\r\n"

// chunkHead is the room left before a batch for its chunk-size line.
const chunkHead = 18

// pollEvery bounds how long the poller sleeps, and so how late a stalled
// write is noticed and how long Stop waits for it.
const pollEvery = 250 * time.Millisecond

// errStopped says the pool no longer serves streams.
var errStopped = errors.New("stream pool stopped")

// Pool serves HTTP/1.1 streams after taking their connections over from
// net/http: a few writer goroutines write what the hub queues, one epoll
// goroutine notices clients leave and sockets drain. Per idle stream this
// keeps a Conn and the socket, instead of a handler goroutine with its stack
// and net/http's read and write buffers.
type Pool struct {
	opts   PoolOptions
	poller *poller
	ready  *ready
	ctx    context.Context // Run's, for catching up from the log

	mu     sync.Mutex
	conns  map[uint64]*Conn
	nextID uint64
	idle   chan struct{} // closed when the last stream ends
	// held counts the streams taken over, against Capacity.
	held int
	// waiting counts streams with a short write outstanding and expiring
	// those whose token expires, so the sweep costs nothing without them.
	waiting  atomic.Int64
	expiring int
	stopped  bool // Run has returned: nothing more is taken over
}

// PoolOptions configure a Pool.
type PoolOptions struct {
	Hub *hub.Hub
	// Log is where a lagging stream catches up from.
	Log History
	// Capacity bounds the streams taken over.
	Capacity int
	// Writers is how many goroutines write; 0: half the processors, at
	// least one.
	Writers      int
	Retry        time.Duration
	WriteTimeout time.Duration
}

// Owner is told, once, that its stream has ended on the wire and why; it
// takes the client out of the hub and releases what the stream held.
type Owner interface {
	Ended(hub.Reason)
}

// NewPool returns a pool, or nil where the platform has no epoll; a nil
// pool takes nothing over.
func NewPool(opts PoolOptions) *Pool {
	p, err := newPoller()
	if err != nil {
		logx.Infow("streams keep their goroutines", logx.Field("reason", err.Error()))
		return nil
	}
	if opts.Writers <= 0 {
		// Each write also runs the kernel's network path; on 2 cores one
		// writer used 8 µs per event where two used 10 (docs/perf.md).
		opts.Writers = max(runtime.GOMAXPROCS(0)/2, 1)
	}
	return &Pool{
		opts: opts, poller: p, ctx: context.Background(), ready: newReady(),
		conns: make(map[uint64]*Conn),
		idle:  closedChan(),
	}
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Run serves the pool's streams until ctx ends, then resets what is left:
// streams still open then did not take their last frame while draining.
func (p *Pool) Run(ctx context.Context) {
	p.ctx = ctx
	var writers sync.WaitGroup
	for range p.opts.Writers {
		writers.Add(1)
		threading.GoSafe(func() {
			defer writers.Done()
			p.write(ctx)
		})
	}
	p.poll(ctx)
	writers.Wait()
	p.mu.Lock()
	p.stopped = true
	left := make([]*Conn, 0, len(p.conns))
	for _, c := range p.conns {
		if !c.catching.Load() { // that one is its catch-up's to end
			left = append(left, c)
		}
	}
	p.mu.Unlock()
	for _, c := range left {
		p.end(c, ending{reason: hub.ReasonShutdown, abort: true})
	}
	_ = p.poller.close()
}

// Wait blocks until every stream the pool holds has ended, or ctx ends.
func (p *Pool) Wait(ctx context.Context) {
	if p == nil {
		return
	}
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// Adoption is what a taken-over stream carries on from its handler.
type Adoption struct {
	// After is the id at or before which queued events are duplicates.
	After eventid.ID
	// Expires, if set, ends the stream (reason auth) when its token expires.
	Expires time.Time
	// Owner is told when the stream has ended.
	Owner Owner
	// TagTopics, as Stream.TagTopics: each event names its topic first.
	TagTopics bool
}

// Adopt takes the stream of w over once its preamble and history are out,
// and reports whether it did; if not, the caller keeps pumping. Only
// plain-text HTTP/1.1 streams qualify: their body is chunked and the
// connection is a socket. After Adopt the handler may return at once.
func (p *Pool) Adopt(w http.ResponseWriter, r *http.Request, c *hub.Client, a Adoption) bool {
	if p == nil || r.TLS != nil || !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 {
		return false
	}
	if !p.reserve() {
		return false
	}
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.release()
		return false
	}
	conn, err := p.register(nc, rw.Writer.Buffered(), c, a)
	if err != nil {
		// The response is no longer net/http's: end it, and let the
		// client come back.
		logx.WithContext(r.Context()).Errorw("stream not taken over", logx.Field("error", err.Error()))
		_ = nc.Close()
		a.Owner.Ended(hub.ReasonClient)
		p.release()
		return true
	}
	c.WakeWith(conn)
	p.schedule(conn)
	return true
}

func (p *Pool) register(nc net.Conn, buffered int, c *hub.Client, a Adoption) (*Conn, error) {
	if buffered > 0 {
		return nil, fmt.Errorf("%d response bytes still buffered", buffered)
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("connection %T has no descriptor", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("descriptor: %w", err)
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return nil, fmt.Errorf("descriptor: %w", err)
	}
	// Writes go straight to the descriptor; no deadline timers are needed.
	_ = nc.SetDeadline(time.Time{})
	// end decides between a reset and a FIN from here on.
	abortive(nc, false)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil, errStopped
	}
	p.nextID++
	conn := &Conn{id: p.nextID, pool: p, nc: nc, fd: fd, client: c, after: a.After, owner: a.Owner,
		tagged: a.TagTopics}
	if err := p.poller.add(fd, conn.id); err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if !a.Expires.IsZero() {
		conn.expires = a.Expires.UnixNano()
		p.expiring++
	}
	if len(p.conns) == 0 {
		p.idle = make(chan struct{})
	}
	p.conns[conn.id] = conn
	return conn, nil
}

// Wake is how the hub tells the stream's writers there is work.
func (c *Conn) Wake() {
	c.pool.kick(c)
}

// kick tells a writer that c has something to do.
func (p *Pool) kick(c *Conn) {
	c.dirty.Store(true)
	p.schedule(c)
}

func (p *Pool) schedule(c *Conn) {
	if c.scheduled.CompareAndSwap(false, true) {
		p.ready.push(c)
	}
}

func (p *Pool) write(ctx context.Context) {
	buf := make([]byte, 0, 16<<10)
	var work []*Conn
	for {
		var ok bool
		if work, ok = p.ready.take(ctx, work); !ok {
			return
		}
		for i, c := range work {
			work[i] = nil
			var handed bool
			if buf, handed = p.serve(c, buf); !handed {
				p.unschedule(c)
			}
		}
	}
}

// unschedule lets c go; whatever arrived while it was served is the next
// writer's.
func (p *Pool) unschedule(c *Conn) {
	c.scheduled.Store(false)
	if c.dirty.Load() {
		p.schedule(c)
	}
}

// serve writes what is queued for c in one chunk, or ends the stream. It
// reports whether it handed c to a goroutine that catches it up from the
// log, which then holds c.
func (p *Pool) serve(c *Conn, buf []byte) ([]byte, bool) {
	c.dirty.Store(false)
	switch {
	case c.done:
		return buf, false
	case c.gone.Load():
		p.end(c, ending{reason: hub.ReasonClient})
		return buf, false
	case c.stalled.Load():
		p.end(c, stalled)
		return buf, false
	case c.closing != nil:
		// Only its last frame is left to write.
		if p.send(c, nil) || c.gone.Load() {
			p.end(c, *c.closing)
		}
		return buf, false
	case c.expired.Load():
		p.end(c, ending{reason: hub.ReasonAuth})
		return buf, false
	}
	if len(c.pending) > 0 && !p.send(c, nil) {
		return buf, false
	}

	// Lagging is read before the batch: the catch-up rule (rules.go).
	from, lagging := c.client.Lagging()
	buf, closed, full := batch(buf[:chunkHead], c.client.Events(), c.after, c.tagged)
	if out := frameChunk(buf); len(out) > 0 {
		p.send(c, out)
	}
	switch {
	case c.gone.Load():
		p.end(c, ending{reason: hub.ReasonClient})
	case closed:
		// The hub cut the client off and counted it already.
		p.end(c, ending{reason: c.client.Reason()})
	case full:
		c.dirty.Store(true)
	case lagging && len(c.pending) == 0:
		c.catching.Store(true)
		threading.GoSafe(func() { p.catchUp(c, from) })
		return buf, true
	}
	return buf, false
}

// send writes b after what c still has pending, without blocking; what the
// socket does not take waits in pending until the poller reports room, and
// the stall rule (sweep) bounds how long it waits with no progress. It
// reports whether nothing is left pending; a failed write marks the peer
// gone, for serve to end the stream.
func (p *Pool) send(c *Conn, b []byte) bool {
	waiting := len(c.pending) > 0
	if waiting {
		b = append(c.pending, b...)
	}
	n, err := writeFD(c.fd, b)
	switch {
	case err != nil:
		c.gone.Store(true)
		c.dirty.Store(true)
		return false
	case n < len(b) && waiting:
		c.pending = b[n:]
		if n > 0 { // the stall rule counts from the last progress
			c.waitSince.Store(time.Now().UnixNano())
		}
	case n < len(b):
		c.pending = append([]byte(nil), b[n:]...)
		c.waitSince.Store(time.Now().UnixNano())
		p.waiting.Add(1)
	case waiting:
		c.pending = nil
		c.waitSince.Store(0)
		p.waiting.Add(-1)
		_ = p.poller.watch(c.fd, c.id, pollIn)
		return true
	default:
		return true
	}
	_ = p.poller.watch(c.fd, c.id, pollOut)
	return false
}

// catchUp writes what a lagging stream missed from the log, holding c, and
// then gives it back to the writers. Once Run's context has ended no writer
// serves c again, so then the stream ends here.
func (p *Pool) catchUp(c *Conn, from eventid.ID) {
	err := catchUp(p.ctx, p.opts.Hub, p.opts.Log, c.client, from, c.after, c.tagged,
		connSink{c, p.opts.WriteTimeout})
	if err != nil && p.ctx.Err() == nil {
		p.end(c, failureEnding(err))
	}
	// Cleared before ctx is read: Run leaves c to this goroutine only while
	// catching is set, so either Run or the check below ends c.
	c.catching.Store(false)
	if p.ctx.Err() != nil {
		p.end(c, ending{reason: hub.ReasonShutdown, abort: true})
		return
	}
	c.dirty.Store(true)
	p.unschedule(c)
}

// frameChunk turns buf[chunkHead:] into one HTTP/1.1 chunk in place and
// returns it, or nothing when the batch is empty.
func frameChunk(buf []byte) []byte {
	size := len(buf) - chunkHead
	if size == 0 {
		return buf[:0]
	}
	var head [chunkHead]byte
	h := strconv.AppendInt(head[:0], int64(size), 16)
	h = append(h, '\r', '\n')
	start := chunkHead - len(h)
	copy(buf[start:], h)
	return append(buf[start:], '\r', '\n')
}

// end is the one way a taken-over stream ends: on the wire (its last frame
// and the end of the chunked body, after whatever the client is still
// reading, or a reset for a client that is not reading), then the
// descriptor is closed, the capacity given back and the owner told, once.
// A last frame the socket cannot take at once waits like any other write,
// and end runs again when it is out.
func (p *Pool) end(c *Conn, e ending) {
	if !e.abort && e.reason != hub.ReasonClient && c.closing == nil {
		c.closing = &e
		last := farewell(make([]byte, chunkHead, chunkHead+64), e, p.opts.Retry)
		if !p.send(c, append(frameChunk(last), endOfBody...)) && !c.gone.Load() {
			return
		}
	}
	if !p.claim(c) {
		return
	}
	if e.abort {
		abort(c.nc)
	} else {
		_ = c.nc.Close()
	}
	c.owner.Ended(e.reason)
	p.release()
}

// reserve takes capacity for a stream about to be taken over.
func (p *Pool) reserve() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.held >= p.opts.Capacity {
		return false
	}
	p.held++
	return true
}

// release gives back the capacity of a stream the hub no longer notifies.
func (p *Pool) release() {
	p.mu.Lock()
	p.held--
	p.mu.Unlock()
}

// claim takes c out of the pool; only the first caller gets true, and it
// closes the connection.
func (p *Pool) claim(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.done {
		return false
	}
	c.done = true
	if c.waitSince.Load() != 0 {
		p.waiting.Add(-1)
	}
	if c.expires != 0 {
		p.expiring--
	}
	delete(p.conns, c.id)
	if !p.stopped {
		// Once stopped, the epoll set may be closed; closing c's descriptor
		// takes it out of the set anyway.
		_ = p.poller.remove(c.fd)
	}
	if len(p.conns) == 0 {
		close(p.idle)
	}
	return true
}

// poll turns epoll events into work for the writers, and marks writes that
// waited longer than the write timeout, until ctx ends.
func (p *Pool) poll(ctx context.Context) {
	lastSweep := time.Now()
	for ctx.Err() == nil {
		err := p.poller.wait(int(pollEvery/time.Millisecond), func(id uint64, events uint32) {
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c == nil {
				return
			}
			if closed(events) {
				c.gone.Store(true)
			}
			p.kick(c)
		})
		if err != nil {
			logx.Errorw("epoll wait", logx.Field("error", err.Error()))
			return
		}
		if now := time.Now(); now.Sub(lastSweep) >= pollEvery {
			lastSweep = now
			p.sweep(now)
		}
	}
}

// progressed reports whether c's socket queue moved since the sweep last
// looked; c stays open while the pool's mutex is held, so its descriptor is
// still c's. c.unsent is the poller's alone.
func (p *Pool) progressed(c *Conn) bool {
	q := unsent(c.fd)
	moved := q >= 0 && q != c.unsent
	c.unsent = q
	return moved
}

// sweep marks streams whose write has waited since before stallLimit, or
// whose token expired before now.
func (p *Pool) sweep(now time.Time) {
	stallLimit := now.Add(-p.opts.WriteTimeout).UnixNano()
	checkStalls := p.opts.WriteTimeout > 0 && p.waiting.Load() > 0
	var marked []*Conn
	p.mu.Lock()
	if !checkStalls && p.expiring == 0 {
		p.mu.Unlock()
		return
	}
	for _, c := range p.conns {
		switch since := c.waitSince.Load(); {
		case checkStalls && since != 0 && p.progressed(c):
			// The client read, though no writer has been back yet to
			// write more: that is progress too, measured by the kernel,
			// so a busy writer does not make a reading client look stalled.
			c.waitSince.CompareAndSwap(since, now.UnixNano())
			continue
		case checkStalls && since != 0 && since < stallLimit:
			c.stalled.Store(true)
		case c.expires != 0 && c.expires <= now.UnixNano() && !c.expired.Load():
			c.expired.Store(true)
		default:
			continue
		}
		marked = append(marked, c)
	}
	p.mu.Unlock()
	for _, c := range marked {
		p.kick(c)
	}
}
