// Package gate sits between a chaos client's response body and its SSE
// parser: it stops reading on purpose (a client that stalls) and times
// every read (a client waiting for bytes the server does not send).
package gate

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"ssehub/internal/chaos/history"
)

// errGateClosed is what a paused read returns once its connection closed.
var errGateClosed = errors.New("connection closed while not reading")

// Gate sits between a response body and the SSE parser. While paused it
// does not read, so the kernel buffers fill and the server sees a client
// that stopped reading. It also times every read: a read that blocks is a
// client waiting for bytes the server does not send.
type Gate struct {
	body    io.Reader
	now     func() time.Duration
	minWait time.Duration
	closed  chan struct{}
	once    sync.Once

	mu     sync.Mutex
	until  time.Duration // paused until this run time
	wake   chan struct{}
	pauses []history.Interval
	waits  []history.Wait

	// readingSince is the run time (ns) at which the current read started,
	// -1 while no read is blocked.
	readingSince atomic.Int64
}

// New gates body; times come from now, and reads that wait at least
// minWait are kept.
func New(body io.Reader, now func() time.Duration, minWait time.Duration) *Gate {
	g := &Gate{body: body, now: now, minWait: minWait, closed: make(chan struct{}), wake: make(chan struct{})}
	g.readingSince.Store(-1)
	return g
}

// Pause stops reading for d from now.
func (g *Gate) Pause(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if now+d > g.until {
		g.until = now + d
	}
	if n := len(g.pauses); n > 0 && g.pauses[n-1].To >= now {
		g.pauses[n-1].To = g.until
		return
	}
	g.pauses = append(g.pauses, history.Interval{From: now, To: g.until})
}

// Resume reads again at once.
func (g *Gate) Resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if n := len(g.pauses); n > 0 && g.pauses[n-1].To > now {
		g.pauses[n-1].To = now
	}
	g.until = 0
	close(g.wake)
	g.wake = make(chan struct{})
}

// Close releases a read that waits for the pause to end.
func (g *Gate) Close() { g.once.Do(func() { close(g.closed) }) }

// Read reads from the body once the pause is over, timing the read.
func (g *Gate) Read(p []byte) (int, error) {
	for {
		g.mu.Lock()
		until, wake := g.until, g.wake
		g.mu.Unlock()
		now := g.now()
		if now >= until {
			break
		}
		t := time.NewTimer(until - now)
		select {
		case <-t.C:
		case <-wake:
		case <-g.closed:
			t.Stop()
			return 0, errGateClosed
		}
		t.Stop()
	}
	start := g.now()
	g.readingSince.Store(int64(start))
	n, err := g.body.Read(p)
	g.readingSince.Store(-1)
	if d := g.now() - start; d >= g.minWait {
		g.mu.Lock()
		g.waits = append(g.waits, history.Wait{At: start, For: d})
		g.mu.Unlock()
	}
	return n, err
}

// Blocked is how long the current read has waited for bytes (0 if none).
func (g *Gate) Blocked() time.Duration {
	since := g.readingSince.Load()
	if since < 0 {
		return 0
	}
	return g.now() - time.Duration(since)
}

// Record copies the pauses and waits into c.
func (g *Gate) Record(c *history.Conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c.Pauses = append(c.Pauses, g.pauses...)
	c.Waits = append(c.Waits, g.waits...)
}
