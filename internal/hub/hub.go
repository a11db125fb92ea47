// Package hub owns the set of subscribers. One goroutine holds it; handlers and
// the event log talk to it through channels, and it never blocks on a client.
package hub

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/sse"
)

var (
	// ErrFull says the hub holds its maximum number of clients.
	ErrFull = errors.New("hub is at its client limit")
	// ErrDraining says the hub is shutting down and takes no new clients.
	ErrDraining = errors.New("hub is draining")
)

// Observer is told what the hub does, for metrics.
type Observer interface {
	Clients(n int)
	Delivered(n int)
	Disconnected(r Reason)
}

// Options configure a Hub.
type Options struct {
	MaxClients   int
	ClientBuffer int
	Heartbeat    time.Duration
	Observer     Observer
}

type opKind int

const (
	opSubscribe opKind = iota
	opUnsubscribe
	opDrain
	opCutAll
	opRejoin
)

type op struct {
	kind   opKind
	reason Reason
	client *Client
	reply  chan subscribed
}

type subscribed struct {
	last eventid.ID
	err  error
}

// ErrCut says the hub cut the client off before it could rejoin.
var ErrCut = errors.New("client was cut off")

// Hub fans events out to clients with non-blocking sends.
type Hub struct {
	opts     Options
	ops      chan op
	events   chan *event.Event
	done     chan struct{}
	draining atomic.Bool
	count    atomic.Int64
	ping     *event.Event

	// owned by the Run goroutine
	topics map[string][]*Client
	all    []*Client
	last   eventid.ID
}

// New returns a hub; start it with Run.
func New(opts Options) *Hub {
	return &Hub{
		opts:   opts,
		ops:    make(chan op),
		events: make(chan *event.Event, 1024),
		done:   make(chan struct{}),
		ping:   &event.Event{Wire: sse.AppendComment(nil, "ping")},
		topics: make(map[string][]*Client),
	}
}

// Subscribe registers a client for topics. It returns the id of the last event
// handed out before the client joined: every later event reaches the client's
// queue, every earlier one is history.
func (h *Hub) Subscribe(topics []string) (*Client, eventid.ID, error) {
	c := &Client{
		ch:     make(chan *event.Event, h.opts.ClientBuffer),
		topics: topics,
		slots:  make([]int, len(topics)),
		lagged: make(chan struct{}, 1),
	}
	reply := make(chan subscribed, 1)
	select {
	case h.ops <- op{kind: opSubscribe, client: c, reply: reply}:
	case <-h.done:
		return nil, eventid.ID{}, ErrDraining
	}
	r := <-reply
	return c, r.last, r.err
}

// Unsubscribe removes a client whose stream ended on its side; it does
// nothing for a client the hub already cut off.
func (h *Hub) Unsubscribe(c *Client, r Reason) {
	select {
	case h.ops <- op{kind: opUnsubscribe, client: c, reason: r}:
	case <-h.done:
	}
}

// Rejoin puts a lagging client back into fan-out and returns the hub's
// position: events after it reach the queue again, the ones in
// (LagFrom, position] are for the writer to catch up from the log.
func (h *Hub) Rejoin(c *Client) (eventid.ID, error) {
	reply := make(chan subscribed, 1)
	select {
	case h.ops <- op{kind: opRejoin, client: c, reply: reply}:
	case <-h.done:
		return eventid.ID{}, ErrCut
	}
	r := <-reply
	return r.last, r.err
}

// Deliver hands an event to the hub, in id order; it is the event log's sink.
func (h *Hub) Deliver(ev *event.Event) {
	select {
	case h.events <- ev:
	case <-h.done:
	}
}

// Drain cuts every client off with ReasonShutdown and refuses new ones.
func (h *Hub) Drain() {
	h.draining.Store(true)
	select {
	case h.ops <- op{kind: opDrain}:
	case <-h.done:
	}
}

// Len returns how many clients are subscribed.
func (h *Hub) Len() int {
	return int(h.count.Load())
}

// CutAll cuts every client off with r but, unlike Drain, keeps taking new
// ones: clients come back and resume from history.
func (h *Hub) CutAll(r Reason) {
	select {
	case h.ops <- op{kind: opCutAll, reason: r}:
	case <-h.done:
	}
}

// Draining reports whether Drain was called.
func (h *Hub) Draining() bool {
	return h.draining.Load()
}

// Run owns the subscriber set until ctx ends, then cuts every client off.
func (h *Hub) Run(ctx context.Context) {
	defer close(h.done)
	// A zero heartbeat is off: no sweep at all.
	var sweep <-chan time.Time
	if h.opts.Heartbeat > 0 {
		t := time.NewTicker(min(time.Second, max(h.opts.Heartbeat/4, time.Millisecond)))
		defer t.Stop()
		sweep = t.C
	}
	for {
		select {
		case ev := <-h.events:
			h.fanout(ev)
		case o := <-h.ops:
			h.handle(o)
		case now := <-sweep:
			h.heartbeat(now.UnixNano())
		case <-ctx.Done():
			h.cutAll(ReasonShutdown)
			return
		}
	}
}

func (h *Hub) handle(o op) {
	switch o.kind {
	case opSubscribe:
		o.reply <- subscribed{last: h.last, err: h.add(o.client)}
	case opUnsubscribe:
		if h.remove(o.client) {
			h.observeGone(o.reason)
		}
	case opDrain:
		h.cutAll(ReasonShutdown)
	case opCutAll:
		h.cutAll(o.reason)
	case opRejoin:
		o.reply <- subscribed{last: h.last, err: h.rejoin(o.client)}
	}
}

func (h *Hub) add(c *Client) error {
	switch {
	case h.draining.Load():
		return ErrDraining
	case h.opts.MaxClients > 0 && len(h.all) >= h.opts.MaxClients:
		if h.opts.Observer != nil {
			h.opts.Observer.Disconnected(ReasonLimit)
		}
		return ErrFull
	}
	c.lastSent = time.Now().UnixNano()
	c.all = len(h.all)
	h.all = append(h.all, c)
	h.attach(c)
	h.observeClients()
	return nil
}

// attach adds c to the sets of its topics, from the hub's current position.
func (h *Hub) attach(c *Client) {
	c.attached = true
	c.lastQueued = h.last
	for i, t := range c.topics {
		c.slots[i] = len(h.topics[t])
		h.topics[t] = append(h.topics[t], c)
	}
}

// rejoin attaches a lagging client again; a client cut off meanwhile stays out.
func (h *Hub) rejoin(c *Client) error {
	if !h.holds(c) {
		return ErrCut
	}
	if !c.attached {
		h.attach(c)
		c.lagging.Store(false)
	}
	return nil
}

func (h *Hub) holds(c *Client) bool {
	return c.all >= 0 && c.all < len(h.all) && h.all[c.all] == c
}

// remove swap-deletes c from every slice it is in; false if it was not there.
func (h *Hub) remove(c *Client) bool {
	if !h.holds(c) {
		return false
	}
	lastAll := h.all[len(h.all)-1]
	h.all[c.all], lastAll.all = lastAll, c.all
	h.all[len(h.all)-1] = nil
	h.all = h.all[:len(h.all)-1]
	c.all = -1
	h.detach(c)
	return true
}

// detach takes c out of the sets of its topics.
func (h *Hub) detach(c *Client) {
	if !c.attached {
		return
	}
	c.attached = false
	for i, t := range c.topics {
		set := h.topics[t]
		slot := c.slots[i]
		moved := set[len(set)-1]
		set[slot] = moved
		moved.slots[moved.slotOf(t)] = slot
		set[len(set)-1] = nil
		if set = set[:len(set)-1]; len(set) == 0 {
			delete(h.topics, t)
		} else {
			h.topics[t] = set
		}
	}
}

func (c *Client) slotOf(topic string) int {
	for i, t := range c.topics {
		if t == topic {
			return i
		}
	}
	return -1
}

func (h *Hub) fanout(ev *event.Event) {
	h.last = ev.ID
	set := h.topics[ev.Topic]
	if len(set) == 0 {
		return
	}
	now := time.Now().UnixNano()
	var full []*Client
	for _, c := range set {
		select {
		case c.ch <- ev:
			c.lastSent = now
			c.lastQueued = ev.ID
			c.signal()
		default:
			full = append(full, c)
		}
	}
	for _, c := range full {
		h.lag(c)
	}
	if h.opts.Observer != nil {
		h.opts.Observer.Delivered(len(set) - len(full))
	}
}

// lag takes a client whose queue is full out of fan-out instead of cutting
// it: a burst is no reason to end a stream that is being read. Its writer
// drains the queue, rejoins, and catches up from the log what came after
// LagFrom; a client that stopped reading is cut by its writer's stall rule.
func (h *Hub) lag(c *Client) {
	h.detach(c)
	c.lagFrom = c.lastQueued
	c.lagging.Store(true)
	select {
	case c.lagged <- struct{}{}:
	default:
	}
	c.signal()
}

// heartbeat queues a ping for every client that got nothing for a heartbeat
// interval; one sweep serves every client, so there are no per-client timers.
func (h *Hub) heartbeat(now int64) {
	idle := now - h.opts.Heartbeat.Nanoseconds()
	for _, c := range h.all {
		if c.lastSent > idle {
			continue
		}
		select {
		case c.ch <- h.ping:
			c.lastSent = now
			c.signal()
		default:
		}
	}
}

func (h *Hub) cut(c *Client, r Reason) {
	if h.remove(c) {
		c.reason = r
		close(c.ch)
		c.signal()
		h.observeGone(r)
	}
}

func (h *Hub) cutAll(r Reason) {
	for len(h.all) > 0 {
		h.cut(h.all[len(h.all)-1], r)
	}
}

func (h *Hub) observeClients() {
	h.count.Store(int64(len(h.all)))
	if h.opts.Observer != nil {
		h.opts.Observer.Clients(len(h.all))
	}
}

func (h *Hub) observeGone(r Reason) {
	h.observeClients()
	if h.opts.Observer != nil {
		h.opts.Observer.Disconnected(r)
	}
}
