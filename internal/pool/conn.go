package pool

import (
	"net"
	"sync/atomic"

	"ssehub/internal/eventid"
	"ssehub/internal/hub"
	"ssehub/internal/pool/catchup"
	"ssehub/internal/pool/tail"
	"ssehub/internal/writer"
)

// Conn is a stream whose connection the Pool took over from net/http: no
// goroutine and no buffers of its own while idle, only this and the hub's
// queue. Only a writer writes its socket, and only while it holds
// scheduled, so its plain fields have one user at a time (a catch-up hands
// its history to the writers); once the writers have stopped, Run ends what
// is left.
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

	scheduled atomic.Bool // queued for or held by a writer
	dirty     atomic.Bool // something happened since the writer last looked
	gone      atomic.Bool // the peer closed (from the poller) or a write failed
	stalled   atomic.Bool // a write waited longer than the write timeout
	expired   atomic.Bool // the token expired (from the poller's sweep)

	out     tail.Tail        // what the socket has not taken yet
	closing *writer.Ending   // how it ends, once its last frame is queued
	cu      *catchup.CatchUp // the last catch-up; set under the pool's mutex
	done    bool             // ended; guarded by the pool's mutex
}

var _ hub.Waker = (*Conn)(nil)
