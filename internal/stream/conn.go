package stream

import (
	"net"
	"sync/atomic"

	"ssehub/internal/eventid"
	"ssehub/internal/hub"
)

// Conn is a stream whose connection the Pool took over from net/http: no
// goroutine and no buffers of its own while idle, only this and the hub's
// queue. A writer serves it only while it holds scheduled, so its plain
// fields have one user at a time.
type Conn struct {
	id      uint64
	nc      net.Conn
	fd      int
	client  *hub.Client
	after   eventid.ID
	expires int64  // unix nanos the token expires, or 0
	onEnd   func() // from Adoption.OnEnd
	tagged  bool   // from Adoption.TagTopics

	scheduled atomic.Bool  // queued for or held by a writer
	dirty     atomic.Bool  // something happened since the writer last looked
	gone      atomic.Bool  // the peer closed (from the poller)
	stalled   atomic.Bool  // a write waited longer than the write timeout
	expired   atomic.Bool  // the token expired (from the poller's sweep)
	waitSince atomic.Int64 // unix nanos a short write started waiting, or 0

	pending []byte // the unwritten tail of a short write
	done    bool
}
