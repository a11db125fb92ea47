package pool

import (
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"ssehub/internal/eventid"
	"ssehub/internal/hub"
	"ssehub/internal/writer"
)

// Conn is a stream whose connection the Pool took over from net/http: no
// goroutine and no buffers of its own while idle, only this and the hub's
// queue. A writer (or the goroutine catching it up) serves it only while it
// holds scheduled, so its plain fields have one user at a time; once the
// writers have stopped, Run ends what is left but those still catching up.
type Conn struct {
	id      uint64
	pool    *Pool
	nc      net.Conn
	fd      int
	client  *hub.Client
	after   eventid.ID
	expires int64 // unix nanos the token expires, or 0
	owner   Owner
	tagged  bool // from Adoption.TagTopics

	scheduled atomic.Bool  // queued for or held by a writer
	dirty     atomic.Bool  // something happened since the writer last looked
	gone      atomic.Bool  // the peer closed (from the poller) or a write failed
	stalled   atomic.Bool  // a write waited longer than the write timeout
	expired   atomic.Bool  // the token expired (from the poller's sweep)
	waitSince atomic.Int64 // unix nanos a short write started waiting, or 0
	catching  atomic.Bool  // held by the goroutine catching it up

	pending []byte         // the unwritten tail of a short write
	unsent  int            // the socket's unacknowledged bytes when the sweep last looked
	closing *writer.Ending // how it ends, once its last frame is queued
	done    bool           // ended; guarded by the pool's mutex
}

var _ hub.Waker = (*Conn)(nil)

// connSink writes history to a taken-over connection with blocking writes,
// one chunk per event, for the goroutine that catches it up.
type connSink struct {
	c       *Conn
	timeout time.Duration
}

func (s connSink) Send(b []byte) error {
	if err := s.c.nc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return err
	}
	head := strconv.AppendInt(make([]byte, 0, chunkHead), int64(len(b)), 16)
	bufs := net.Buffers{append(head, '\r', '\n'), b, []byte("\r\n")}
	_, err := bufs.WriteTo(s.c.nc)
	return err
}

func (connSink) Flush() error { return nil }
