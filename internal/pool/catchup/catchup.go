// Package catchup catches up a lagging taken-over stream: a goroutine reads
// what the stream missed from the log (the rule is writer.CatchUp) and
// hands it, one HTTP chunk at a time, to whichever writer serves the
// stream. The catch-up never writes the socket itself, so the socket has
// one writer, with one stall rule, whether it writes history or live events.
package catchup

import (
	"context"
	"sync/atomic"

	"github.com/zeromicro/go-zero/core/threading"

	"ssehub/internal/eventid"
	"ssehub/internal/hub"
	"ssehub/internal/pool/chunk"
	"ssehub/internal/writer"
)

// PieceBytes bounds how much history a catch-up hands the writers at once;
// it is also what a lagging stream holds beyond its socket's own buffer.
const PieceBytes = 16 << 10

// Options say what to catch up and whom to tell.
type Options struct {
	Hub    *hub.Hub
	Log    writer.History
	Client *hub.Client
	// From is the first id the stream missed; After and Tagged are the
	// stream's own, as in writer.Batch.
	From, After eventid.ID
	Tagged      bool
	// Wake tells the stream's writers that a piece is ready or that the
	// catch-up is over. It must not block.
	Wake func()
}

// CatchUp is one catch-up of one stream. Its methods are for the writer
// that serves the stream; a nil CatchUp is none.
type CatchUp struct {
	ctx    context.Context // ends when Stop is called or the parent ends
	cancel context.CancelFunc
	pieces chan []byte   // the next chunk of history
	taken  chan struct{} // the writer has written or queued the last piece
	active atomic.Bool
	failed *writer.Ending // set before active clears
}

// Start starts catching up under ctx; the stream is active from now until
// its history is out or the catch-up failed.
func Start(ctx context.Context, o Options) *CatchUp {
	ctx, cancel := context.WithCancel(ctx)
	cu := &CatchUp{ctx: ctx, cancel: cancel, pieces: make(chan []byte, 1), taken: make(chan struct{}, 1)}
	cu.active.Store(true)
	threading.GoSafe(func() { cu.run(o) })
	return cu
}

// run reads the history into pieces, then gives the stream back to live
// events. Once stopped, it touches nothing the stream's writers use.
func (cu *CatchUp) run(o Options) {
	defer cu.cancel()
	err := writer.CatchUp(cu.ctx, o.Hub, o.Log, o.Client, o.From, o.After, o.Tagged,
		&sink{cu: cu, wake: o.Wake, buf: make([]byte, chunk.Head, chunk.Head+PieceBytes)})
	if cu.ctx.Err() != nil {
		return
	}
	if err != nil {
		e := writer.FailureEnding(err)
		cu.failed = &e
	}
	cu.active.Store(false)
	o.Wake()
}

// Stop ends the catch-up; the stream has ended.
func (cu *CatchUp) Stop() {
	if cu != nil {
		cu.cancel()
	}
}

// Active reports whether only history may go out: the queue holds what
// comes after it.
func (cu *CatchUp) Active() bool {
	return cu != nil && cu.active.Load()
}

// Failed is how the stream ends when the catch-up is over and failed, or
// nil.
func (cu *CatchUp) Failed() *writer.Ending {
	if cu == nil || cu.active.Load() {
		return nil
	}
	return cu.failed
}

// WriteNext hands the next piece, if one is ready, to write, which must
// write it or copy what it cannot write yet: the piece is reused after.
func (cu *CatchUp) WriteNext(write func([]byte)) {
	select {
	case piece := <-cu.pieces:
		write(piece)
		cu.taken <- struct{}{}
	default:
	}
}

// sink collects a catch-up's frames into chunks of about PieceBytes and
// hands each to the writers, waiting until one has taken it.
type sink struct {
	cu   *CatchUp
	wake func()
	buf  []byte
}

func (s *sink) Send(b []byte) error {
	s.buf = append(s.buf, b...)
	if len(s.buf)-chunk.Head >= PieceBytes {
		return s.Flush()
	}
	return nil
}

func (s *sink) Flush() error {
	if len(s.buf) == chunk.Head {
		return nil
	}
	select {
	case s.cu.pieces <- chunk.Frame(s.buf):
	case <-s.cu.ctx.Done():
		return s.cu.ctx.Err()
	}
	s.wake()
	select {
	case <-s.cu.taken:
	case <-s.cu.ctx.Done():
		return s.cu.ctx.Err()
	}
	s.buf = s.buf[:chunk.Head]
	return nil
}
