package pool

import (
	"context"

	"github.com/zeromicro/go-zero/core/threading"

	"ssehub/internal/eventid"
	"ssehub/internal/writer"
)

// pageBytes bounds how much history a catch-up hands the writers at once;
// it is also what a lagging stream holds beyond its socket's own buffer.
const pageBytes = 16 << 10

// catchUp is one catch-up of a lagging stream: a goroutine reads what the
// stream missed from the log and hands it, a piece at a time, to whichever
// writer serves the stream, so the socket has one writer, with one stall
// rule, whether it writes history or live events.
type catchUp struct {
	ctx    context.Context // ends when the stream ends or the pool stops
	cancel context.CancelFunc
	pieces chan []byte    // the next HTTP chunk of history, for the writer
	taken  chan struct{}  // the writer has written or queued the last piece
	failed *writer.Ending // how the stream ends when the catch-up failed; set before catching clears
}

// startCatchUp puts c in catch-up mode (the writers write only its history
// until it is done) and starts the goroutine that reads it from the log.
func (p *Pool) startCatchUp(c *Conn, from eventid.ID) {
	ctx, cancel := context.WithCancel(p.ctx)
	cu := &catchUp{ctx: ctx, cancel: cancel, pieces: make(chan []byte, 1), taken: make(chan struct{}, 1)}
	p.mu.Lock()
	c.cu = cu // claim cancels it from here on
	p.mu.Unlock()
	c.catching.Store(true)
	threading.GoSafe(func() { p.catchUp(c, cu, from) })
}

// catchUp reads (from, the hub's position at rejoining] from the log into
// pieces for the writers, then gives the stream back to live events; a
// failure is left for the writers to end the stream with. Once the stream
// has ended, or the pool has stopped, whoever ended it did the rest.
func (p *Pool) catchUp(c *Conn, cu *catchUp, from eventid.ID) {
	defer cu.cancel()
	err := writer.CatchUp(cu.ctx, p.opts.Hub, p.opts.Log, c.client, from, c.after, c.tagged,
		&pieceSink{p: p, c: c, cu: cu, buf: make([]byte, chunkHead, chunkHead+pageBytes)})
	if cu.ctx.Err() != nil {
		return
	}
	if err != nil {
		e := writer.FailureEnding(err)
		cu.failed = &e
	}
	c.catching.Store(false)
	p.kick(c)
}

// writePiece writes the next piece of c's history, if its catch-up has one
// ready; c's socket has nothing pending.
func (p *Pool) writePiece(c *Conn) {
	select {
	case piece := <-c.cu.pieces:
		p.send(c, piece) // what the socket does not take is copied to pending
		c.cu.taken <- struct{}{}
	default:
	}
}

// pieceSink collects a catch-up's frames into chunks of about pageBytes and
// hands each to the writers, waiting until one has taken it.
type pieceSink struct {
	p   *Pool
	c   *Conn
	cu  *catchUp
	buf []byte
}

func (s *pieceSink) Send(b []byte) error {
	s.buf = append(s.buf, b...)
	if len(s.buf)-chunkHead >= pageBytes {
		return s.Flush()
	}
	return nil
}

func (s *pieceSink) Flush() error {
	if len(s.buf) == chunkHead {
		return nil
	}
	select {
	case s.cu.pieces <- frameChunk(s.buf):
	case <-s.cu.ctx.Done():
		return s.cu.ctx.Err()
	}
	s.p.kick(s.c)
	select {
	case <-s.cu.taken:
	case <-s.cu.ctx.Done():
		return s.cu.ctx.Err()
	}
	s.buf = s.buf[:chunkHead]
	return nil
}
