// Package tail writes a socket without blocking: what the socket does not
// take waits, in order, ahead of the next write, and the time the wait last
// made progress is kept for the stall rule ("no progress for the write
// timeout", internal/writer).
package tail

import (
	"sync/atomic"
	"time"

	"ssehub/internal/pool/epoll"
)

// Tail is one socket's unwritten bytes; its zero value has none. Write and
// Empty are for the writer that holds the socket, Stalled for the sweep;
// Since is safe for anyone.
type Tail struct {
	pending []byte
	since   atomic.Int64 // unix nanos the wait started or last progressed, 0 while nothing waits
	unsent  int          // the socket's unacknowledged bytes when Stalled last looked
}

// Change says what a write did to the wait.
type Change uint8

const (
	// Written: all of it went out, and nothing waited before.
	Written Change = iota
	// Drained: what waited went out, and the new bytes with it.
	Drained
	// Started: the socket took only part; the rest waits.
	Started
	// Waiting: something waited before and still does.
	Waiting
)

// Write writes b to fd after what waits. Bytes the socket does not take are
// copied, so the caller may reuse b. After an error the socket is not to be
// written again.
func (t *Tail) Write(fd int, b []byte) (Change, error) {
	waiting := len(t.pending) > 0
	if waiting {
		b = append(t.pending, b...)
	}
	n, err := epoll.Write(fd, b)
	switch {
	case err != nil:
		return Waiting, err
	case n < len(b) && waiting:
		t.pending = b[n:]
		if n > 0 {
			t.since.Store(time.Now().UnixNano())
		}
		return Waiting, nil
	case n < len(b):
		t.pending = append([]byte(nil), b[n:]...)
		t.since.Store(time.Now().UnixNano())
		return Started, nil
	case waiting:
		t.pending = nil
		t.since.Store(0)
		return Drained, nil
	}
	return Written, nil
}

// Empty reports whether nothing waits.
func (t *Tail) Empty() bool {
	return len(t.pending) == 0
}

// Since is when the wait started or last progressed, in unix nanos; 0 while
// nothing waits.
func (t *Tail) Since() int64 {
	return t.since.Load()
}

// Stalled reports whether bytes have waited with no progress since before
// limit (unix nanos). Progress is a write that took some, or the socket's
// queue moving since the last look: the client read though no writer has
// been back yet, so a busy writer does not make a reading client look
// stalled. fd must still be the socket's.
func (t *Tail) Stalled(fd int, now, limit int64) bool {
	since := t.since.Load()
	if since == 0 {
		return false
	}
	q := epoll.Unsent(fd)
	moved := q >= 0 && q != t.unsent
	t.unsent = q
	if moved {
		t.since.CompareAndSwap(since, now)
		return false
	}
	return since < limit
}
