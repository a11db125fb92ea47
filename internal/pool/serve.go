package pool

import (
	"context"
	"strconv"
	"time"

	"ssehub/internal/hub"
	"ssehub/internal/pool/epoll"
	"ssehub/internal/socket"
	"ssehub/internal/writer"
)

// endOfBody is the last chunk of a chunked HTTP/1.1 body.
const endOfBody = "0\r\n\r\n"

// chunkHead is the room left before a batch for its chunk-size line.
const chunkHead = 18

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
	if len(c.pending) > 0 && !p.send(c, nil) {
		return buf
	}
	if c.catching.Load() {
		// Only history goes out until the catch-up is done: the queue holds
		// what comes after it.
		p.writePiece(c)
		return buf
	}

	// Lagging is read before the batch: the catch-up rule (internal/writer/rules.go).
	from, lagging := c.client.Lagging()
	buf, closed, full := writer.Batch(buf[:chunkHead], c.client.Events(), c.after, c.tagged)
	if out := frameChunk(buf); len(out) > 0 {
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
	case lagging && len(c.pending) == 0:
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
	case !c.catching.Load() && c.cu != nil && c.cu.failed != nil:
		p.end(c, *c.cu.failed)
	default:
		return false
	}
	return true
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
	n, err := epoll.Write(c.fd, b)
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
		_ = p.poller.Watch(c.fd, c.id, epoll.In)
		return true
	default:
		return true
	}
	_ = p.poller.Watch(c.fd, c.id, epoll.Out)
	return false
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
func (p *Pool) end(c *Conn, e writer.Ending) {
	if !e.Abort && e.Reason != hub.ReasonClient && c.closing == nil {
		c.closing = &e
		last := writer.Farewell(make([]byte, chunkHead, chunkHead+64), e, p.opts.Retry)
		if !p.send(c, append(frameChunk(last), endOfBody...)) && !c.gone.Load() {
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
