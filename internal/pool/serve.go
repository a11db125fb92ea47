package pool

import (
	"context"

	"ssehub/internal/eventid"
	"ssehub/internal/hub"
	"ssehub/internal/pool/catchup"
	"ssehub/internal/pool/chunk"
	"ssehub/internal/pool/epoll"
	"ssehub/internal/pool/tail"
	"ssehub/internal/socket"
	"ssehub/internal/writer"
)

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
		p.ready.Push(c)
	}
}

func (p *Pool) write(ctx context.Context) {
	buf := make([]byte, 0, 16<<10)
	var work []*Conn
	for {
		var ok bool
		if work, ok = p.ready.Take(ctx, work); !ok {
			return
		}
		for i, c := range work {
			work[i] = nil
			buf = p.serve(c, buf)
			p.unschedule(c)
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

// serve writes what is queued for c in one chunk (or, while it catches up,
// the next piece of its history), or ends the stream.
func (p *Pool) serve(c *Conn, buf []byte) []byte {
	c.dirty.Store(false)
	if p.ending(c) {
		return buf
	}
	if !c.out.Empty() && !p.send(c, nil) {
		return buf
	}
	if c.cu.Active() {
		c.cu.WriteNext(func(piece []byte) { p.send(c, piece) })
		return buf
	}

	// Lagging is read before the batch: the catch-up rule (internal/writer/rules.go).
	from, lagging := c.client.Lagging()
	buf, closed, full := writer.Batch(buf[:chunk.Head], c.client.Events(), c.after, c.tagged)
	if out := chunk.Frame(buf); len(out) > 0 {
		p.send(c, out)
	}
	switch {
	case c.gone.Load():
		p.end(c, writer.Ending{Reason: hub.ReasonClient})
	case closed:
		// The hub cut the client off and counted it already.
		p.end(c, writer.Ending{Reason: c.client.Reason()})
	case full:
		c.dirty.Store(true)
	case lagging && c.out.Empty():
		p.startCatchUp(c, from)
	}
	return buf
}

// ending ends c when its end is decided already (the client went, a write
// stalled, the token expired, a catch-up failed), or writes what is left of
// its last frame; it reports whether that was all there was to do.
func (p *Pool) ending(c *Conn) bool {
	switch {
	case c.done:
	case c.gone.Load():
		p.end(c, writer.Ending{Reason: hub.ReasonClient})
	case c.stalled.Load():
		p.end(c, writer.Stalled)
	case c.closing != nil:
		// Only its last frame is left to write.
		if p.send(c, nil) || c.gone.Load() {
			p.end(c, *c.closing)
		}
	case c.expired.Load():
		p.end(c, writer.Ending{Reason: hub.ReasonAuth})
	case c.cu.Failed() != nil:
		p.end(c, *c.cu.Failed())
	default:
		return false
	}
	return true
}

// send writes b after what c still has waiting, without blocking (tail);
// the poller reports when the socket has room again, and the stall rule
// (sweep) bounds how long it waits with no progress. It reports whether
// nothing is left waiting; a failed write marks the peer gone, for serve to
// end the stream.
func (p *Pool) send(c *Conn, b []byte) bool {
	change, err := c.out.Write(c.fd, b)
	switch {
	case err != nil:
		c.gone.Store(true)
		c.dirty.Store(true)
		return false
	case change == tail.Written:
		return true
	case change == tail.Drained:
		p.waiting.Add(-1)
		_ = p.poller.Watch(c.fd, c.id, epoll.In)
		return true
	case change == tail.Started:
		p.waiting.Add(1)
	}
	_ = p.poller.Watch(c.fd, c.id, epoll.Out)
	return false
}

// end is the one way a taken-over stream ends: on the wire (its last frame
// and the end of the chunked body, after whatever the client is still
// reading, or a reset for a client that is not reading), then the
// descriptor is closed, the capacity given back and the owner told, once.
// A last frame the socket cannot take at once waits like any other write,
// and end runs again when it is out.
func (p *Pool) end(c *Conn, e writer.Ending) {
	if !e.Abort && e.Reason != hub.ReasonClient && c.closing == nil {
		c.closing = &e
		last := writer.Farewell(make([]byte, chunk.Head, chunk.Head+64), e, p.opts.Retry)
		if !p.send(c, append(chunk.Frame(last), chunk.Last...)) && !c.gone.Load() {
			return
		}
	}
	if !p.claim(c) {
		return
	}
	if e.Abort {
		socket.Abort(c.nc)
	} else {
		_ = c.nc.Close()
	}
	c.owner.Ended(e.Reason)
	p.release()
}

// startCatchUp has c's history caught up from from on; until it is done the
// writers write only that.
func (p *Pool) startCatchUp(c *Conn, from eventid.ID) {
	cu := catchup.Start(p.ctx, catchup.Options{
		Hub: p.opts.Hub, Log: p.opts.Log, Client: c.client, From: from, After: c.after, Tagged: c.tagged,
		Wake: func() { p.kick(c) },
	})
	p.mu.Lock()
	c.cu = cu // claim stops it from here on
	p.mu.Unlock()
}
