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
	"ssehub/internal/sse"
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
	hub          *hub.Hub
	retry        time.Duration
	writeTimeout time.Duration
	capacity     int
	writers      int
	poller       *poller
	queue        chan *Conn

	mu     sync.Mutex
	conns  map[uint64]*Conn
	nextID uint64
	idle   chan struct{} // closed when the last stream ends
	// held counts streams the hub may still notify: registered ones and
	// ended ones not yet unsubscribed. Keeping it within capacity keeps the
	// queue from filling, so the hub never blocks on it.
	held int
	// waiting counts streams with a short write outstanding and expiring
	// those whose token expires, so the sweep costs nothing without them.
	waiting  atomic.Int64
	expiring int
	stopped  bool // Run has returned: nothing more is taken over
}

// NewPool returns a pool for up to capacity streams of h, written by
// writers goroutines (0: half the processors, at least one), or nil where
// the platform has no epoll; a nil pool takes nothing over.
func NewPool(h *hub.Hub, capacity, writers int, retry, writeTimeout time.Duration) *Pool {
	p, err := newPoller()
	if err != nil {
		logx.Infow("streams keep their goroutines", logx.Field("reason", err.Error()))
		return nil
	}
	if writers <= 0 {
		// Each write also runs the kernel's network path; on 2 cores one
		// writer used 8 µs per event where two used 10 (docs/perf.md).
		writers = max(runtime.GOMAXPROCS(0)/2, 1)
	}
	return &Pool{
		hub: h, retry: retry, writeTimeout: writeTimeout, capacity: capacity, writers: writers, poller: p,
		// Every Conn is in the queue at most once, so it never fills.
		queue: make(chan *Conn, capacity),
		conns: make(map[uint64]*Conn),
		idle:  closedChan(),
	}
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Run serves the pool's streams until ctx ends, then closes what is left.
func (p *Pool) Run(ctx context.Context) {
	var writers sync.WaitGroup
	for range p.writers {
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
	for _, c := range p.conns {
		p.finishLocked(c)
	}
	p.mu.Unlock()
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
	// OnEnd, if set, runs once when the stream has ended and left the hub.
	OnEnd func()
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
		p.hub.Unsubscribe(c, hub.ReasonClient)
		p.release()
		if a.OnEnd != nil {
			a.OnEnd()
		}
		return true
	}
	c.Notify(conn.notify(p))
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

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil, errStopped
	}
	p.nextID++
	conn := &Conn{id: p.nextID, nc: nc, fd: fd, client: c, after: a.After, onEnd: a.OnEnd, tagged: a.TagTopics}
	if !a.Expires.IsZero() {
		conn.expires = a.Expires.UnixNano()
		p.expiring++
	}
	if err := p.poller.add(fd, conn.id); err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if len(p.conns) == 0 {
		p.idle = make(chan struct{})
	}
	p.conns[conn.id] = conn
	return conn, nil
}

func (c *Conn) notify(p *Pool) func() {
	return func() { p.kick(c) }
}

// kick tells a writer that c has something to do.
func (p *Pool) kick(c *Conn) {
	c.dirty.Store(true)
	p.schedule(c)
}

func (p *Pool) schedule(c *Conn) {
	if c.scheduled.CompareAndSwap(false, true) {
		p.queue <- c
	}
}

func (p *Pool) write(ctx context.Context) {
	buf := make([]byte, 0, 16<<10)
	for {
		select {
		case c := <-p.queue:
			buf = p.serve(c, buf)
			c.scheduled.Store(false)
			// Whatever arrived while c was being served is the next writer's.
			if c.dirty.Load() {
				p.schedule(c)
			}
		case <-ctx.Done():
			return
		}
	}
}

// serve writes what is queued for c in one chunk, or ends the stream.
func (p *Pool) serve(c *Conn, buf []byte) []byte {
	c.dirty.Store(false)
	switch {
	case c.done:
		return buf
	case c.gone.Load():
		p.end(c, hub.ReasonClient)
		return buf
	case c.stalled.Load():
		p.end(c, hub.ReasonSlow)
		return buf
	case c.expired.Load():
		if len(c.pending) == 0 {
			_, _ = writeFD(c.fd, []byte(endOfBody))
		}
		p.end(c, hub.ReasonAuth)
		return buf
	}
	if len(c.pending) > 0 {
		if p.hub.Draining() {
			// No last frame for a client that is not reading.
			p.end(c, hub.ReasonShutdown)
			return buf
		}
		n, err := writeFD(c.fd, c.pending)
		if err != nil {
			p.end(c, hub.ReasonClient)
			return buf
		}
		if c.pending = c.pending[n:]; len(c.pending) > 0 {
			_ = p.poller.watch(c.fd, c.id, pollOut)
			return buf
		}
		c.pending = nil
		c.waitSince.Store(0)
		p.waiting.Add(-1)
		_ = p.poller.watch(c.fd, c.id, pollIn)
	}

	buf = buf[:chunkHead]
	queue := c.client.Events()
	closed := false
drain:
	for range maxBatch {
		select {
		case ev, ok := <-queue:
			if !ok {
				closed = true
				break drain
			}
			ping := ev.ID.IsZero()
			switch {
			case !ping && !c.after.Less(ev.ID): // the client has it already
			case !ping && c.tagged:
				buf = sse.AppendTagged(buf, ev.Wire, ev.Topic)
			default:
				buf = append(buf, ev.Wire...)
			}
		default:
			break drain
		}
	}
	if closed {
		// Whom the hub sends away all at once is told to come back spread out.
		if r := c.client.Reason(); r == hub.ReasonShutdown || r == hub.ReasonResync {
			buf = sse.AppendRetry(buf, jitteredRetry(p.retry))
		}
	}
	out := frameChunk(buf)
	if closed {
		out = append(out, endOfBody...)
	}
	if len(out) > 0 {
		n, err := writeFD(c.fd, out)
		switch {
		case err != nil:
			p.end(c, hub.ReasonClient)
			return buf
		case n < len(out) && !closed:
			c.pending = append([]byte(nil), out[n:]...)
			c.waitSince.Store(time.Now().UnixNano())
			p.waiting.Add(1)
			_ = p.poller.watch(c.fd, c.id, pollOut)
		}
	}
	if closed {
		// The hub cut the client off and counted it already.
		p.finish(c)
		p.release()
		if c.onEnd != nil {
			c.onEnd()
		}
	} else if len(queue) > 0 {
		c.dirty.Store(true)
	}
	return buf
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

// end closes a stream that ended on the pool's side and tells the hub.
func (p *Pool) end(c *Conn, r hub.Reason) {
	p.finish(c)
	p.hub.Unsubscribe(c.client, r)
	p.release()
	if c.onEnd != nil {
		c.onEnd()
	}
}

// reserve takes capacity for a stream about to be taken over.
func (p *Pool) reserve() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.held >= p.capacity {
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

func (p *Pool) finish(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked(c)
}

func (p *Pool) finishLocked(c *Conn) {
	if c.done {
		return
	}
	c.done = true
	if c.pending != nil {
		p.waiting.Add(-1)
	}
	if c.expires != 0 {
		p.expiring--
	}
	delete(p.conns, c.id)
	_ = p.poller.remove(c.fd)
	_ = c.nc.Close()
	if len(p.conns) == 0 {
		close(p.idle)
	}
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

// sweep marks streams whose write has waited since before stallLimit, or
// whose token expired before now.
func (p *Pool) sweep(now time.Time) {
	stallLimit := now.Add(-p.writeTimeout).UnixNano()
	checkStalls := p.writeTimeout > 0 && p.waiting.Load() > 0
	var marked []*Conn
	p.mu.Lock()
	if !checkStalls && p.expiring == 0 {
		p.mu.Unlock()
		return
	}
	for _, c := range p.conns {
		switch {
		case checkStalls && c.waitSince.Load() != 0 && c.waitSince.Load() < stallLimit:
			c.stalled.Store(true)
		case c.expires != 0 && c.expires <= now.UnixNano():
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
