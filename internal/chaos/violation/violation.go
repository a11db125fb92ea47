// Package violation names the contract rules the checker applies, and
// describes one broken rule with where to look for it in the history.
package violation

import (
	"fmt"
	"time"
)

// Kind names the contract rule a violation breaks.
type Kind string

// The violation kinds the checker reports.
const (
	Gap         Kind = "gap"               // an acknowledged event skipped without a reset
	Duplicate   Kind = "duplicate"         // the same id twice in a chain
	Order       Kind = "out-of-order"      // an id lower than one already received
	Double      Kind = "double-delivery"   // one idempotent publish became two events
	Phantom     Kind = "phantom"           // an event nobody published on a subscribed topic
	Needless    Kind = "needless-reset"    // a reset for an id the server still had
	Corrupt     Kind = "corrupt"           // data other than the bytes published
	AckMismatch Kind = "ack-mismatch"      // one id acknowledged for two different publishes
	Undelivered Kind = "undelivered"       // a reading client never got the final marker
	Silent      Kind = "silent"            // no byte past the heartbeat bound on an open stream
	NoAnswer    Kind = "no-answer"         // a GET /sse that got no response headers in time
	Cut         Kind = "cut-while-reading" // the server ended the stream of a client that kept reading
	NotEnded    Kind = "not-ended"         // a stream of a killed or stopped instance stayed open
	Unclean     Kind = "unclean-end"       // SIGTERM ended a reading stream without retry and end of body
	Shutdown    Kind = "shutdown"          // SIGTERM did not exit 0 within the bound
	Leak        Kind = "leak"              // resources above their baseline after the run
	Pinned      Kind = "pinned"            // a closed socket kept kernel memory
)

// Violation is one broken rule, with where to look in the history.
type Violation struct {
	Kind   Kind
	Client int // -1 when no chain is involved
	Conn   int // index in the chain's Conns, -1 if none
	Frame  int // index in the connection's Frames, -1 if none
	At     time.Duration
	IDs    []string // the ids involved (bounds first, then missing ones)
	Detail string
}

func (v Violation) String() string {
	who := ""
	if v.Client >= 0 {
		who = fmt.Sprintf(" client %d conn %d", v.Client, v.Conn)
	}
	return fmt.Sprintf("%s at %v%s: %s", v.Kind, v.At.Round(time.Millisecond), who, v.Detail)
}
