// Package client is a chaos run's simulated SSE client: it runs one
// ClientPlan as a chain of connections, each resuming with the last id
// received, and records every connection into the chain the checker reads.
package client

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

	"ssehub/internal/chaos/clock"
	"ssehub/internal/chaos/gate"
	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/schedule"
	"ssehub/internal/chaos/servers"
	"ssehub/internal/chaos/wire"
	"ssehub/internal/sse"
)

// Env is what the clients of a run share with it.
type Env struct {
	Clock     clock.Clock
	Instances []*servers.Instance
	// Final is closed when the final phase begins: every client reads
	// again and waits for its markers.
	Final  <-chan struct{}
	Bounds history.Bounds
	// WireDir, if set, is where a connection whose stream was corrupt or
	// malformed leaves its last bytes as read from the socket.
	WireDir string
}

// Client runs one ClientPlan: a chain of connections, each resuming with
// the last id received, recorded into chain.
type Client struct {
	plan  schedule.ClientPlan
	env   Env
	rng   *rand.Rand
	chain *history.Chain

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

// New is the client of plan in env; nothing runs until Run.
func New(env Env, plan schedule.ClientPlan) *Client {
	c := &Client{plan: plan, env: env, rng: rand.New(rand.NewPCG(plan.Seed, uint64(plan.ID))),
		chain:       &history.Chain{Client: plan.ID, Topics: plan.Topics, Behaviour: plan.Behaviour},
		markersLeft: map[string]bool{}, markersSeen: make(chan struct{}), gaveUp: make(chan struct{})}
	for _, t := range plan.Topics {
		c.markersLeft[schedule.MarkerToken(t)] = true
	}
	return c
}

// Chain is what the client recorded; read it once Run has returned.
func (c *Client) Chain() *history.Chain { return c.chain }

// MarkersSeen is closed once the client received the final marker of each
// of its topics.
func (c *Client) MarkersSeen() <-chan struct{} { return c.markersSeen }

// GaveUp is closed when, in the final phase, the server refused the
// client's request or never answered it.
func (c *Client) GaveUp() <-chan struct{} { return c.gaveUp }

// Waiting reports whether the client has yet to subscribe: it has no
// stream, its markers have not all come and it did not give up.
func (c *Client) Waiting() bool {
	return !c.live.Load() && !isClosed(c.markersSeen) && !isClosed(c.gaveUp)
}

// Run connects again and again until the final markers arrived or ctx ends.
func (c *Client) Run(ctx context.Context) {
	if !clock.Sleep(ctx, c.plan.Start-c.env.Clock.Now()) {
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
		if !c.env.Instances[inst].Up() {
			if len(c.env.Instances) > 1 && c.rng.IntN(2) == 0 {
				inst = (inst + 1) % len(c.env.Instances)
			}
			clock.Sleep(ctx, 100*time.Millisecond)
			continue
		}
		hop, ok := c.connect(ctx, inst, &next)
		if last := c.chain.Conns[len(c.chain.Conns)-1]; isClosed(c.env.Final) && refused(last) {
			// the server will not serve this client (its request is
			// judged by that answer): do not hold up the final phase
			close(c.gaveUp)
			return
		}
		switch {
		case hop >= 0:
			inst = hop
		case !ok && len(c.env.Instances) > 1 && c.rng.IntN(2) == 0:
			inst = (inst + 1) % len(c.env.Instances)
		}
		clock.Sleep(ctx, schedule.Between(c.rng, 20*time.Millisecond, 300*time.Millisecond))
	}
}

// refused reports whether conn was answered with a client error or not at all.
func refused(conn *history.Conn) bool {
	return conn.End == history.EndNoAnswer || conn.End == history.EndStatus && conn.Status >= 400 && conn.Status < 500
}

// conn state shared by a connection's controller and its reader.
type connState struct {
	why   atomic.Pointer[history.End]
	tcp   atomic.Pointer[net.TCPConn]
	stop  context.CancelFunc
	gate  atomic.Pointer[gate.Gate]
	final atomic.Bool
	wire  atomic.Pointer[wire.Recorder] // with Env.WireDir
}

// end closes the connection as why (the first reason wins); with rst the
// close sends a reset instead of a FIN.
func (s *connState) end(why history.End, rst bool) {
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
		g.Close()
	}
	s.stop()
}

// connect runs one connection to instance inst and the planned actions that
// fall in it. It returns the instance to hop to (-1 for none) and whether
// the connection got a stream.
func (c *Client) connect(ctx context.Context, inst int, next *int) (int, bool) {
	in := c.env.Instances[inst]
	conn := &history.Conn{Instance: inst, Incarnation: -1, LastEventID: c.lastID, Start: c.env.Clock.Now()}
	c.chain.Conns = append(c.chain.Conns, conn)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &connState{stop: cancel}
	tr := c.transport(st, conn)
	defer tr.CloseIdleConnections()
	resp, ok := c.open(cctx, in, tr, st, conn)
	if !ok {
		return -1, false
	}
	defer resp.Body.Close()
	g := gate.New(resp.Body, c.env.Clock.Now, min(c.env.Bounds.Silence/2, c.env.Bounds.EndAfterKill/2))
	st.gate.Store(g)
	done := make(chan struct{})
	go c.read(conn, in, g, st, done)
	hop := c.control(ctx, st, g, next, done)
	g.Record(conn)
	c.saveWire(st, conn)
	c.live.Store(false)
	return hop, true
}

// saveWire keeps the last bytes of a connection whose stream was corrupt
// or whose body broke.
func (c *Client) saveWire(st *connState, conn *history.Conn) {
	rec := st.wire.Load()
	if rec == nil {
		return
	}
	bad := strings.Contains(conn.Err, "malformed")
	for _, f := range conn.Frames {
		bad = bad || f.Corrupt
	}
	if !bad {
		return
	}
	name := fmt.Sprintf("client-%d-conn-%d.bin", c.plan.ID, len(c.chain.Conns)-1)
	if err := rec.Save(c.env.WireDir, name); err != nil {
		conn.Err += "; wire not saved: " + err.Error()
	}
}

// transport makes the one connection of conn: its socket goes to st (to
// close it), its local address to conn.
func (c *Client) transport(st *connState, conn *history.Conn) *http.Transport {
	return &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: 2 * time.Second, Control: c.smallRcvBuf}
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			st.tcp.Store(nc.(*net.TCPConn))
			conn.Local = nc.LocalAddr().String()
			if c.env.WireDir != "" {
				rec := &wire.Recorder{Conn: nc}
				st.wire.Store(rec)
				return rec, nil
			}
			return nc, nil
		}}
}

// open sends conn's GET /sse to in and returns the answer if it is a
// stream; any other outcome ends conn, recorded with why.
func (c *Client) open(ctx context.Context, in *servers.Instance, tr *http.Transport, st *connState, conn *history.Conn) (*http.Response, bool) {
	req, err := c.request(ctx, in)
	if err != nil {
		conn.End, conn.Err, conn.EndAt = history.EndDial, err.Error(), c.env.Clock.Now()
		return nil, false
	}
	resp, err := c.send(ctx, tr, st, req)
	if err != nil {
		conn.End, conn.Err, conn.EndAt = history.EndDial, err.Error(), c.env.Clock.Now()
		if why := st.why.Load(); why != nil {
			conn.End = *why
		} else if st.tcp.Load() != nil {
			conn.End = history.EndReset
		}
		return nil, false
	}
	conn.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		conn.End, conn.Err, conn.EndAt = history.EndStatus, string(body), c.env.Clock.Now()
		_ = resp.Body.Close()
		return nil, false
	}
	return resp, true
}

// send sends req over tr, by hand for a half-body client. A server that
// never answers (a request body it waits for) must not hold the client:
// past the silence bound it is a connection with no answer.
func (c *Client) send(ctx context.Context, tr *http.Transport, st *connState, req *http.Request) (*http.Response, error) {
	noAnswer := time.AfterFunc(c.env.Bounds.Silence, func() { st.end(history.EndNoAnswer, false) })
	defer noAnswer.Stop()
	if c.plan.Behaviour == history.HalfBody {
		return halfBodyGet(ctx, tr.DialContext, req)
	}
	return (&http.Client{Transport: tr}).Do(req)
}

func (c *Client) request(ctx context.Context, in *servers.Instance) (*http.Request, error) {
	q := url.Values{"topic": c.plan.Topics}
	if c.lastID != "" && c.plan.Query {
		q.Set("lastEventId", c.lastID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL()+"/sse?"+q.Encode(), nil)
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
func (c *Client) smallRcvBuf(_, _ string, raw syscall.RawConn) error {
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
func (c *Client) control(ctx context.Context, st *connState, g *gate.Gate, next *int, done <-chan struct{}) int {
	hop := -1
	final := c.env.Final
	watchdog := time.NewTicker(250 * time.Millisecond)
	defer watchdog.Stop()
	seen, over := c.markersSeen, ctx.Done()
	for {
		due, stop := c.due(st, *next)
		select {
		case <-done:
			stop()
			return hop
		case <-due:
			a := c.plan.Actions[*next]
			*next++
			if to := c.act(st, g, a); to >= 0 {
				hop = to
			}
		case <-final:
			stop()
			final = nil
			st.final.Store(true)
			g.Resume()
		case <-seen:
			stop()
			seen = nil
			st.end(history.EndRunOver, false)
		case <-over:
			stop()
			over = nil
			st.end(history.EndRunOver, false)
		case <-watchdog.C:
			stop()
			if g.Blocked() > 2*c.env.Bounds.Silence {
				st.end(history.EndWatchdog, false)
			}
		}
	}
}

// due fires when the next planned action is due; it never fires once the
// final phase began or every action is done. stop releases it.
func (c *Client) due(st *connState, next int) (due <-chan time.Time, stop func()) {
	if st.final.Load() || next >= len(c.plan.Actions) {
		return nil, func() {}
	}
	timer := time.NewTimer(max(0, c.plan.Actions[next].At-c.env.Clock.Now()))
	return timer.C, func() { timer.Stop() }
}

// act carries out the planned action a on the connection and returns the
// instance to hop to (-1 for none). A close or hop more than a second late
// fell while the client was not connected: it is dropped.
func (c *Client) act(st *connState, g *gate.Gate, a schedule.Action) int {
	if a.Kind != schedule.ActStall && c.env.Clock.Now()-a.At > time.Second {
		return -1
	}
	switch a.Kind {
	case schedule.ActStall:
		if left := a.At + a.For - c.env.Clock.Now(); left > 0 {
			g.Pause(left)
		}
	case schedule.ActClose:
		st.end(history.EndClient, false)
	case schedule.ActReset:
		st.end(history.EndClient, true)
	case schedule.ActHop:
		st.end(history.EndClient, false)
		return a.Instance
	}
	return -1
}

// read parses the stream and records every event; the first frame (the
// preamble's comment) marks the subscription and names the process.
func (c *Client) read(conn *history.Conn, in *servers.Instance, g *gate.Gate, st *connState, done chan<- struct{}) {
	defer close(done)
	if isClosed(c.env.Final) {
		st.final.Store(true)
	}
	r := sse.NewReader(g)
	for {
		f, err := r.Next()
		conn.Retries = r.Retries
		now := c.env.Clock.Now()
		if err != nil {
			conn.End, conn.Err = classify(err, st.why.Load())
			conn.EndAt = now
			return
		}
		if conn.Ready == 0 {
			conn.Ready, conn.Incarnation = now, in.Incarnation()
			c.live.Store(true)
		}
		if f.IsComment {
			continue
		}
		fr := frameOf(f, now)
		conn.Frames = append(conn.Frames, fr)
		if f.HasID {
			c.lastID = f.ID
		}
		c.marker(fr.Token)
		if c.plan.FrameDelay > 0 && !st.final.Load() {
			time.Sleep(c.plan.FrameDelay)
		}
	}
}

// frameOf records event f, received at at: a reset's reason, or the token
// of the data and whether the data is the bytes published with it.
func frameOf(f sse.Frame, at time.Duration) history.Frame {
	fr := history.Frame{At: at, ID: f.ID, Event: f.Event}
	switch f.Event {
	case "reset":
		var body struct{ Reason string }
		_ = json.Unmarshal([]byte(f.Data), &body)
		fr.Reason = body.Reason
	case "tick":
	default:
		// a copy: a slice of the data would keep every payload alive
		fr.Token = strings.Clone(schedule.TokenOf(f.Data))
		fr.Corrupt = f.Data != schedule.Payload(fr.Token)
	}
	return fr
}

// marker ticks off token if it is one of the final markers still awaited;
// the last one closes markersSeen.
func (c *Client) marker(token string) {
	if !c.markersLeft[token] {
		return
	}
	delete(c.markersLeft, token)
	if len(c.markersLeft) == 0 {
		c.markerOnce.Do(func() { close(c.markersSeen) })
	}
}

// classify names how a stream ended: by the client (why), or by the server
// with a terminated body, a close without one, or a reset.
func classify(err error, why *history.End) (history.End, string) {
	if why != nil {
		return *why, ""
	}
	switch {
	case errors.Is(err, context.Canceled):
		// Only the client cancels its request: with no reason of the
		// connection's own, the run's context ended, which can reach the
		// reader before the controller has recorded why.
		return history.EndRunOver, ""
	case errors.Is(err, io.EOF):
		return history.EndEOF, ""
	case errors.Is(err, io.ErrUnexpectedEOF):
		return history.EndTruncated, err.Error()
	case errors.Is(err, syscall.ECONNRESET):
		return history.EndReset, ""
	}
	return history.EndReset, err.Error()
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
