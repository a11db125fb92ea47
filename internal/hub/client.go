package hub

import (
	"sync/atomic"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
)

// Reason says why a client left; it is the label of
// ssehub_clients_disconnected_total.
type Reason string

// Reasons a stream ends.
const (
	ReasonClient   Reason = "client"
	ReasonSlow     Reason = "slow"
	ReasonShutdown Reason = "shutdown"
	ReasonLimit    Reason = "limit"
	ReasonAuth     Reason = "auth"
	// ReasonResync: the shared log lost events, so every client is sent
	// back to resume with its Last-Event-ID and learn what is missing.
	ReasonResync Reason = "resync"
)

// Client is one subscriber's queue. The hub is the only sender on it and
// closes it when it cuts the client off; Reason then says why.
type Client struct {
	ch       chan *event.Event
	topics   []string
	slots    []int // position in the hub's per-topic slice, per topic
	all      int   // position in the hub's slice of every client
	lastSent int64 // unix nanos of the last frame queued, for heartbeats
	// attached: in the topic sets; lastQueued: the last event queued, or
	// the hub's position when it attached.
	attached   bool
	lastQueued eventid.ID
	reason     Reason
	waker      atomic.Pointer[Waker]

	// lagFrom is written by the hub before it sets lagging; lagged wakes a
	// writer that blocks on Events.
	lagFrom eventid.ID
	lagging atomic.Bool
	lagged  chan struct{}
}

// Waker is a writer that does not block on Events: the hub wakes it after
// it queues a frame for the client, takes the client out of fan-out, or
// closes its queue. Wake runs on the hub's goroutine for every frame, so it
// must only record that there is work and return.
type Waker interface {
	Wake()
}

// WakeWith makes the hub wake w for the client.
func (c *Client) WakeWith(w Waker) {
	c.waker.Store(&w)
}

func (c *Client) signal() {
	if w := c.waker.Load(); w != nil {
		(*w).Wake()
	}
}

// Lagging reports whether the hub took the client out of fan-out because
// its queue was full, and if so the last event it queued: the writer drains
// the queue, calls Hub.Rejoin and catches up from the log after that id.
func (c *Client) Lagging() (from eventid.ID, ok bool) {
	if !c.lagging.Load() {
		return eventid.ID{}, false
	}
	return c.lagFrom, true
}

// Lagged is signalled when the hub takes the client out of fan-out, for a
// writer blocked on Events that would otherwise wait for the next ping.
func (c *Client) Lagged() <-chan struct{} {
	return c.lagged
}

// Topics returns the client's topics.
func (c *Client) Topics() []string {
	return c.topics
}

// Events is the client's queue; it is closed when the hub cuts the client off.
func (c *Client) Events() <-chan *event.Event {
	return c.ch
}

// Reason says why the hub closed Events; read it only after the close.
func (c *Client) Reason() Reason {
	return c.reason
}
