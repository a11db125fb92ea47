package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"ssehub/internal/sse"
)

// client runs one ClientPlan: a chain of connections, each resuming with
// the last id received, recorded into chain.
type client struct {
	plan  ClientPlan
	r     *runner
	rng   *rand.Rand
	chain *Chain

	// lastID and markersLeft belong to the reader of the current
	// connection; connections follow each other, so there is one owner.
	lastID      string
	markersLeft map[string]bool
	markersSeen chan struct{}
	markerOnce  sync.Once
	// gaveUp is closed when, in the final phase, the server refused the
	// client's request (4xx) or never answered it.
	gaveUp chan struct{}
	// live is set while a connection is subscribed (its preamble came).
	live atomic.Bool
}

func newClient(r *runner, plan ClientPlan) *client {
	c := &client{plan: plan, r: r, rng: rand.New(rand.NewPCG(plan.Seed, uint64(plan.ID))),
		chain:       &Chain{Client: plan.ID, Topics: plan.Topics, Behaviour: plan.Behaviour},
		markersLeft: map[string]bool{}, markersSeen: make(chan struct{}), gaveUp: make(chan struct{})}
	for _, t := range plan.Topics {
		c.markersLeft[MarkerToken(t)] = true
	}
	return c
}

// run connects again and again until the final markers arrived or ctx ends.
func (c *client) run(ctx context.Context) {
	if !sleepCtx(ctx, c.plan.Start-c.r.now()) {
		return
	}
	next := 0
	inst := c.plan.Instance
	for ctx.Err() == nil {
		select {
		case <-c.markersSeen:
			return
		default:
		}
		if !c.r.instances[inst].up.Load() {
			if len(c.r.instances) > 1 && c.rng.IntN(2) == 0 {
				inst = (inst + 1) % len(c.r.instances)
			}
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		hop, ok := c.connect(ctx, inst, &next)
		if last := c.chain.Conns[len(c.chain.Conns)-1]; isClosed(c.r.final) && refused(last) {
			// the server will not serve this client (its request is
			// judged by that answer): do not hold up the final phase
			close(c.gaveUp)
			return
		}
		switch {
		case hop >= 0:
			inst = hop
		case !ok && len(c.r.instances) > 1 && c.rng.IntN(2) == 0:
			inst = (inst + 1) % len(c.r.instances)
		}
		sleepCtx(ctx, between(c.rng, 20*time.Millisecond, 300*time.Millisecond))
	}
}

// refused reports whether conn was answered with a client error or not at all.
func refused(conn *Conn) bool {
	return conn.End == EndNoAnswer || conn.End == EndStatus && conn.Status >= 400 && conn.Status < 500
}

// conn state shared by a connection's controller and its reader.
type connState struct {
	why   atomic.Pointer[End]
	tcp   atomic.Pointer[net.TCPConn]
	stop  context.CancelFunc
	gate  atomic.Pointer[gate]
	final atomic.Bool
}

// end closes the connection as why (the first reason wins); with rst the
// close sends a reset instead of a FIN.
func (s *connState) end(why End, rst bool) {
	if !s.why.CompareAndSwap(nil, &why) {
		return
	}
	if t := s.tcp.Load(); t != nil {
		if rst {
			_ = t.SetLinger(0)
		}
		_ = t.Close()
	}
	if g := s.gate.Load(); g != nil {
		g.close()
	}
	s.stop()
}

// connect runs one connection to instance inst and the planned actions that
// fall in it. It returns the instance to hop to (-1 for none) and whether
// the connection got a stream.
func (c *client) connect(ctx context.Context, inst int, next *int) (int, bool) {
	in := c.r.instances[inst]
	conn := &Conn{Instance: inst, Incarnation: -1, LastEventID: c.lastID, Start: c.r.now()}
	c.chain.Conns = append(c.chain.Conns, conn)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &connState{stop: cancel}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: 2 * time.Second, Control: c.smallRcvBuf}
			nc, err := d.DialContext(ctx, network, addr)
			if err == nil {
				st.tcp.Store(nc.(*net.TCPConn))
				conn.Local = nc.LocalAddr().String()
			}
			return nc, err
		}}
	defer tr.CloseIdleConnections()
	req, err := c.request(cctx, in)
	if err != nil {
		conn.End, conn.Err, conn.EndAt = EndDial, err.Error(), c.r.now()
		return -1, false
	}
	// A server that never answers (a request body it waits for) must not
	// hold the client: past the silence bound it is a silent connection.
	noAnswer := time.AfterFunc(c.r.bounds.Silence, func() { st.end(EndNoAnswer, false) })
	var resp *http.Response
	if c.plan.Behaviour == HalfBody {
		resp, err = halfBodyGet(cctx, tr.DialContext, req)
	} else {
		resp, err = (&http.Client{Transport: tr}).Do(req)
	}
	noAnswer.Stop()
	if err != nil {
		conn.End, conn.Err, conn.EndAt = EndDial, err.Error(), c.r.now()
		if why := st.why.Load(); why != nil {
			conn.End = *why
		} else if st.tcp.Load() != nil {
			conn.End = EndReset
		}
		return -1, false
	}
	defer resp.Body.Close()
	conn.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		conn.End, conn.Err, conn.EndAt = EndStatus, string(body), c.r.now()
		return -1, false
	}
	g := newGate(resp.Body, c.r.now, min(c.r.bounds.Silence/2, c.r.bounds.EndAfterKill/2))
	st.gate.Store(g)
	done := make(chan struct{})
	go c.read(conn, in, g, st, done)
	hop := c.control(ctx, st, g, next, done)
	g.record(conn)
	c.live.Store(false)
	return hop, true
}

func (c *client) request(ctx context.Context, in *instance) (*http.Request, error) {
	q := url.Values{"topic": c.plan.Topics}
	if c.lastID != "" && c.plan.Query {
		q.Set("lastEventId", c.lastID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.url()+"/sse?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.lastID != "" && !c.plan.Query {
		req.Header.Set("Last-Event-ID", c.lastID)
	}
	return req, nil
}

// smallRcvBuf gives the socket of a client planned with RcvBuf a small
// receive buffer, so its stalls fill the server's socket with little data.
func (c *client) smallRcvBuf(_, _ string, raw syscall.RawConn) error {
	if c.plan.RcvBuf == 0 {
		return nil
	}
	var serr error
	err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, c.plan.RcvBuf)
	})
	if err != nil {
		return err
	}
	return serr
}

// halfBodyGet sends req by hand with a Content-Length and no body (net/http
// would send a body it cannot produce as chunked), then reads the answer.
func halfBodyGet(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), req *http.Request) (*http.Response, error) {
	nc, err := dial(ctx, "tcp", req.URL.Host)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 10\r\n", req.URL.RequestURI(), req.URL.Host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(nc, b.String()); err != nil {
		_ = nc.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), req)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{resp.Body, nc}
	return resp, nil
}

// control runs the connection's planned actions until its reader is done.
// A read blocked for twice the silence bound is given up (the violation is
// recorded by the wait; giving up only bounds the run).
func (c *client) control(ctx context.Context, st *connState, g *gate, next *int, done <-chan struct{}) int {
	hop := -1
	final := c.r.final
	watchdog := time.NewTicker(250 * time.Millisecond)
	defer watchdog.Stop()
	actions := c.plan.Actions
	seen, over := c.markersSeen, ctx.Done()
	for {
		var due <-chan time.Time
		var timer *time.Timer
		if !st.final.Load() && *next < len(actions) {
			timer = time.NewTimer(max(0, actions[*next].At-c.r.now()))
			due = timer.C
		}
		stop := func() {
			if timer != nil {
				timer.Stop()
			}
		}
		select {
		case <-done:
			stop()
			return hop
		case <-due:
			a := actions[*next]
			*next++
			if a.Kind != ActStall && c.r.now()-a.At > time.Second {
				continue // planned while it was not connected
			}
			switch a.Kind {
			case ActStall:
				if left := a.At + a.For - c.r.now(); left > 0 {
					g.pause(left)
				}
			case ActClose:
				st.end(EndClient, false)
			case ActReset:
				st.end(EndClient, true)
			case ActHop:
				hop = a.Instance
				st.end(EndClient, false)
			}
		case <-final:
			stop()
			final = nil
			st.final.Store(true)
			g.resume()
		case <-seen:
			stop()
			seen = nil
			st.end(EndRunOver, false)
		case <-over:
			stop()
			over = nil
			st.end(EndRunOver, false)
		case <-watchdog.C:
			stop()
			if g.blocked() > 2*c.r.bounds.Silence {
				st.end(EndWatchdog, false)
			}
		}
	}
}

// read parses the stream and records every event; the first frame (the
// preamble's comment) marks the subscription and names the process.
func (c *client) read(conn *Conn, in *instance, g *gate, st *connState, done chan<- struct{}) {
	defer close(done)
	if isClosed(c.r.final) {
		st.final.Store(true)
	}
	r := sse.NewReader(g)
	for {
		f, err := r.Next()
		conn.Retries = r.Retries
		now := c.r.now()
		if err != nil {
			conn.End, conn.Err = classify(err, st.why.Load())
			conn.EndAt = now
			return
		}
		if conn.Ready == 0 {
			conn.Ready, conn.Incarnation = now, int(in.inc.Load())
			c.live.Store(true)
		}
		if f.IsComment {
			continue
		}
		fr := Frame{At: now, ID: f.ID, Event: f.Event}
		switch f.Event {
		case "reset":
			var body struct{ Reason string }
			_ = json.Unmarshal([]byte(f.Data), &body)
			fr.Reason = body.Reason
		case "tick":
		default:
			// a copy: a slice of the data would keep every payload alive
			fr.Token = strings.Clone(TokenOf(f.Data))
			fr.Corrupt = f.Data != Payload(fr.Token)
		}
		conn.Frames = append(conn.Frames, fr)
		if f.HasID {
			c.lastID = f.ID
		}
		if c.markersLeft[fr.Token] {
			delete(c.markersLeft, fr.Token)
			if len(c.markersLeft) == 0 {
				c.markerOnce.Do(func() { close(c.markersSeen) })
			}
		}
		if c.plan.FrameDelay > 0 && !st.final.Load() {
			time.Sleep(c.plan.FrameDelay)
		}
	}
}

// classify names how a stream ended: by the client (why), or by the server
// with a terminated body, a close without one, or a reset.
func classify(err error, why *End) (End, string) {
	if why != nil {
		return *why, ""
	}
	switch {
	case errors.Is(err, io.EOF):
		return EndEOF, ""
	case errors.Is(err, io.ErrUnexpectedEOF):
		return EndTruncated, err.Error()
	case errors.Is(err, syscall.ECONNRESET):
		return EndReset, ""
	}
	return EndReset, err.Error()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
