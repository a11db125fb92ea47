// Package history holds what a chaos run records and all the checker looks
// at: every client's chain of connections, the publish log, the faults and
// each instance's resources, with the queries the rules share.
package history

import "time"

// History is everything a run recorded, and all check.Check looks at.
// Times are offsets from the start of the run.
type History struct {
	Seed   uint64
	Mode   string
	Bounds Bounds
	Chains []*Chain
	// Publishes holds one entry per HTTP attempt; retries of one logical
	// publish share its Token (and Key).
	Publishes []Publish
	Faults    []Fault
	// Markers maps each topic to the token of the final event published on
	// it after the faults stopped: every chain must receive the markers of
	// its topics.
	Markers   map[string]string
	QuiesceAt time.Duration
	Resources []Resources
}

// Bounds are the limits Check applies; the runner derives them from the
// server config it started with.
type Bounds struct {
	// Silence is how long a reading client may wait for a byte on an open
	// stream: heartbeat interval plus slack.
	Silence time.Duration
	// EndAfterKill and EndAfterTerm bound how long a stream may stay open
	// after its instance got SIGKILL or SIGTERM.
	EndAfterKill time.Duration
	EndAfterTerm time.Duration
	// StalledCut is how long before its stream ended a client may have
	// paused and been cut for it: the write timeout plus time to drain.
	StalledCut time.Duration
	// WriteTimeout is Sse.WriteTimeout: only a pause at least this long can
	// get a client cut by the stall rule.
	WriteTimeout time.Duration
	// ReplaySize is Sse.Replay.Size: a key older than that many events may
	// have left history, so its retry may publish again.
	ReplaySize int
	// ReplayAge is Sse.Replay.MaxAge.
	ReplayAge time.Duration
	// FDSlack, GoroutineSlack and QueueSlack are the tolerances of the
	// resource baseline check (descriptors, goroutines, bytes queued in the
	// kernel on the instance's sockets).
	FDSlack, GoroutineSlack int
	QueueSlack              int64
	// OrphanQueue is how many bytes a socket the server already closed may
	// still hold in the kernel while nobody drains it; a cut stream must
	// free its memory at once.
	OrphanQueue int64
}

// Behaviour is how one client reads.
type Behaviour string

// The client behaviours.
const (
	Fast     Behaviour = "fast"      // reads as fast as it can
	Slow     Behaviour = "slow"      // sleeps a few ms after every frame
	Stall    Behaviour = "stall"     // reads, but now and then stops reading for seconds
	Never    Behaviour = "never"     // does not read until the final phase
	Abrupt   Behaviour = "abrupt"    // closes its connection abruptly (FIN or RST) and resumes
	Hop      Behaviour = "hop"       // resumes on the other instance
	HalfBody Behaviour = "half-body" // GET /sse with a Content-Length and a body that never comes
)

// Chain is one client's life: its connections in order. Every connection
// after the first resumes with the last id the chain received.
type Chain struct {
	Client    int
	Topics    []string
	Behaviour Behaviour
	Conns     []*Conn
}

// End says how a connection ended.
type End string

// The ways a connection ends. EOF, Truncated and Reset are the server ending
// it on the wire; the others are the client's doing or a failure to connect.
const (
	EndOpen      End = ""          // never ended (a bug in the runner or a hang)
	EndEOF       End = "eof"       // the chunked body was terminated
	EndTruncated End = "truncated" // the connection closed without the last chunk
	EndReset     End = "reset"     // the connection was reset
	EndClient    End = "client"    // the client closed it on purpose
	EndWatchdog  End = "watchdog"  // the client gave up on a silent stream
	EndRunOver   End = "run-over"  // the run closed it after the final markers
	EndDial      End = "dial"      // no connection (instance down)
	EndStatus    End = "status"    // an answer other than 200
	EndNoAnswer  End = "no-answer" // connected, but no response headers in time
)

// ServerEnded reports whether e is the server ending the stream on the wire.
func (e End) ServerEnded() bool {
	return e == EndEOF || e == EndTruncated || e == EndReset
}

// Conn is one connection of a chain.
type Conn struct {
	Instance int
	// Incarnation is the instance's process generation when the preamble
	// arrived (the process that sent it); -1 when none arrived.
	Incarnation int
	LastEventID string
	// Local is the client's address, to find the stream in the server's log.
	Local string
	Start time.Duration
	// Ready is when the preamble (retry and first comment) arrived, 0 if
	// it never did; from then on the client is subscribed.
	Ready   time.Duration
	Status  int
	Frames  []Frame
	Retries int // retry: lines seen (the preamble's and a shutdown's)
	End     End
	EndAt   time.Duration
	Err     string
	// Waits are the reads that waited long for bytes while the client
	// wanted them (the recorder keeps those over half the silence bound).
	Waits []Wait
	// Pauses are the intervals in which the client did not read on purpose.
	Pauses []Interval
}

// FrameAt is the index of the last frame received before at, -1 if none.
func (c *Conn) FrameAt(at time.Duration) int {
	i := -1
	for fi, f := range c.Frames {
		if f.At <= at {
			i = fi
		}
	}
	return i
}

// WaitAfter is the longest a read of c waited for bytes after from, beyond
// what TCP explains (Unexplained).
func (c *Conn) WaitAfter(from time.Duration) time.Duration {
	var worst time.Duration
	for _, w := range c.Waits {
		worst = max(worst, c.Unexplained(Wait{At: max(w.At, from), For: w.At + w.For - max(w.At, from)}))
	}
	return worst
}

// minRTO is Linux's smallest retransmission timeout, where its zero-window
// probes start.
const minRTO = 200 * time.Millisecond

// Unexplained is the part of wait w that TCP does not explain. A client
// that stopped reading from a to b closed its receive window; the sender's
// kernel then sends only on zero-window probes, whose gaps double from
// minRTO while the window stays closed, so the first probe after b comes by
// b + (b-a) + minRTO, for a live server or for the socket a killed one left
// behind. Time the client waits for bytes before that is TCP's, not the
// server's.
func (c *Conn) Unexplained(w Wait) time.Duration {
	end := w.At + w.For
	if w.For <= 0 {
		return 0
	}
	from := w.At
	for _, p := range c.Pauses {
		if p.To <= w.At {
			from = max(from, p.To+(p.To-p.From)+minRTO)
		}
	}
	return max(end-from, 0)
}

// ResumedAt is the first time from at on when the client was reading.
func (c *Conn) ResumedAt(at time.Duration) time.Duration {
	for _, p := range c.Pauses {
		if p.From <= at && at < p.To {
			at = p.To
		}
	}
	return at
}

// Reading reports whether the client read throughout [from, to].
func (c *Conn) Reading(from, to time.Duration) bool {
	for _, p := range c.Pauses {
		if p.From <= to && p.To >= from {
			return false
		}
	}
	return true
}

// Frame is one event received (comments are not kept: silence is measured
// by Waits). Token is the publish token of the data, Reason a reset's.
type Frame struct {
	At      time.Duration
	ID      string
	Event   string
	Token   string
	Reason  string
	Corrupt bool // the data is not the bytes published with Token
}

// IsReset reports whether f is a reset event.
func (f Frame) IsReset() bool { return f.Event == "reset" }

// Wait is a read that blocked from At for For.
type Wait struct {
	At, For time.Duration
}

// Interval is a span of run time.
type Interval struct {
	From, To time.Duration
}

// Publish is one POST /publish attempt.
type Publish struct {
	Token    string
	Topic    string
	Key      string
	Instance int
	Start    time.Duration
	Done     time.Duration
	Status   int    // 0 when no answer came
	ID       string // the acknowledged id (status 200)
	Dup      bool   // the server answered "duplicate"
	Err      string
}

// Acked reports whether the attempt was acknowledged with an id.
func (p Publish) Acked() bool { return p.Status == 200 && p.ID != "" }

// FaultKind names a fault.
type FaultKind string

// The faults the runner injects.
const (
	FaultKill        FaultKind = "sigkill"        // SIGKILL an instance, restart it
	FaultTerm        FaultKind = "sigterm"        // SIGTERM an instance, restart it
	FaultRedisKill   FaultKind = "redis-kill"     // SIGKILL redis, restart from its AOF
	FaultRedisSave   FaultKind = "redis-save"     // SAVE a snapshot to restore later
	FaultRedisReload FaultKind = "redis-restore"  // SIGKILL redis, restart from the snapshot
	FaultFlushAll    FaultKind = "redis-flushall" // FLUSHALL
	FaultRedisDown   FaultKind = "redis-down"     // SHUTDOWN SAVE, restart later (no loss)
	FaultNone        FaultKind = ""
)

// LosesHistory reports whether the fault may lose events or keys that were
// acknowledged (so a reset, or a key publishing again, is legitimate).
func (k FaultKind) LosesHistory(mode string) bool {
	switch k {
	case FaultRedisKill, FaultRedisReload, FaultFlushAll:
		return true
	case FaultKill, FaultTerm:
		return mode == ModeMemory
	}
	return false
}

// Fault is one injected fault. Incarnation is the instance's generation it
// hit; Exited is when the process exited (signals only) and ExitCode how.
type Fault struct {
	Kind        FaultKind
	Instance    int
	Incarnation int
	At          time.Duration
	Exited      time.Duration
	ExitCode    int
	Restarted   time.Duration
	Err         string
}

// Resources compares one instance process before clients and after them.
type Resources struct {
	Instance, Incarnation int
	Before, After         Sample
	// MaxOrphan is the most bytes seen queued on one socket the server had
	// already closed, and OrphanAt when.
	MaxOrphan int64
	OrphanAt  time.Duration
}

// Sample is one reading of a server process's resources.
type Sample struct {
	At         time.Duration
	FDs        int
	Goroutines int
	Sockets    int   // established sockets on the instance's port (both ends)
	Queued     int64 // bytes queued in the kernel on those sockets
	SockMem    int64 // /proc/net/sockstat TCP mem, pages (system-wide, shown only)
}

// Modes.
const (
	ModeMemory = "memory"
	ModeRedis  = "redis"
)
