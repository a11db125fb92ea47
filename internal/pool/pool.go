// Package pool is the taken-over transport: once a plain HTTP/1.1 stream's
// preamble and history are out, it takes the connection from net/http and
// writes it from a few writer goroutines, with one epoll goroutine to notice
// clients leave and sockets drain, following the writer's rules
// (internal/writer). The pool's life is in pool.go, writing a stream and
// ending it in serve.go, noticing stalls and expiries in sweep.go; a
// lagging stream's history comes from catchup, framed by chunk.
package pool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/threading"

	"ssehub/internal/eventid"
	"ssehub/internal/hub"
	"ssehub/internal/pool/epoll"
	"ssehub/internal/pool/ready"
	"ssehub/internal/socket"
	"ssehub/internal/writer"
)

// errStopped says the pool no longer serves streams.
var errStopped = errors.New("stream pool stopped")

// Pool serves HTTP/1.1 streams after taking their connections over from
// net/http: a few writer goroutines write what the hub queues, one epoll
// goroutine notices clients leave and sockets drain. Per idle stream this
// keeps a Conn and the socket, instead of a handler goroutine with its stack
// and net/http's read and write buffers.
type Pool struct {
	opts   Options
	poller *epoll.Poller
	ready  *ready.Queue[*Conn]
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

// Options configure a Pool.
type Options struct {
	Hub *hub.Hub
	// Log is where a lagging stream catches up from.
	Log writer.History
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

// New returns a pool, or nil where the platform has no epoll; a nil
// pool takes nothing over.
func New(opts Options) *Pool {
	p, err := epoll.New()
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
		opts: opts, poller: p, ctx: context.Background(), ready: ready.New[*Conn](),
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
		left = append(left, c)
	}
	p.mu.Unlock()
	for _, c := range left {
		p.end(c, writer.Ending{Reason: hub.ReasonShutdown, Abort: true})
	}
	_ = p.poller.Close()
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
	// TagTopics, as stream.Stream.TagTopics: each event names its topic first.
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
	// Hijack discards what net/http still buffers for the connection; the
	// stream flushed everything it wrote and saw the flush's error
	// (stream.flushError), so nothing of it is lost here.
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.release()
		return false
	}
	conn, err := p.register(nc, c, a)
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

func (p *Pool) register(nc net.Conn, c *hub.Client, a Adoption) (*Conn, error) {
	fd, err := socket.Descriptor(nc)
	if err != nil {
		return nil, err
	}
	// Writes go straight to the descriptor; no deadline timers are needed.
	_ = nc.SetDeadline(time.Time{})
	// end decides between a reset and a FIN from here on.
	socket.Abortive(nc, false)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil, errStopped
	}
	p.nextID++
	conn := &Conn{id: p.nextID, pool: p, nc: nc, fd: fd, client: c, after: a.After, owner: a.Owner,
		tagged: a.TagTopics}
	if err := p.poller.Add(fd, conn.id); err != nil {
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
	if c.out.Since() != 0 {
		p.waiting.Add(-1)
	}
	if c.expires != 0 {
		p.expiring--
	}
	c.cu.Stop() // its catch-up touches c no more
	delete(p.conns, c.id)
	if !p.stopped {
		// Once stopped, the epoll set may be closed; closing c's descriptor
		// takes it out of the set anyway.
		_ = p.poller.Remove(c.fd)
	}
	if len(p.conns) == 0 {
		close(p.idle)
	}
	return true
}
