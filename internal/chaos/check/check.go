// Package check verifies a chaos run's history against the contract: the
// event rules of package oracle, and the rules on streams' time and end
// (silence, an answer, no cut of a reading client, the end after a fault),
// on shutdown and on each instance's resources after the run.
package check

import (
	"fmt"
	"slices"
	"time"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/oracle"
	"ssehub/internal/chaos/violation"
)

// Check verifies h against the contract and returns every violation, in
// time order. It is a pure function of h.
func Check(h *history.History) []violation.Violation {
	o, out := oracle.New(h)
	for _, c := range h.Chains {
		out = append(out, o.Chain(c)...)
		out = append(out, checkStreams(h, c)...)
		out = append(out, checkCuts(h, o, c)...)
	}
	out = append(out, checkFaults(h)...)
	out = append(out, checkResources(h)...)
	slices.SortStableFunc(out, func(a, b violation.Violation) int { return int(a.At - b.At) })
	return out
}

// checkStreams applies the per-connection time rules: a client that wanted
// bytes never waited past the silence bound, and a connection always got an
// answer.
func checkStreams(h *history.History, c *history.Chain) []violation.Violation {
	var out []violation.Violation
	for ci, conn := range c.Conns {
		if conn.End == history.EndNoAnswer {
			out = append(out, violation.Violation{Kind: violation.NoAnswer, Client: c.Client, Conn: ci, Frame: -1, At: conn.Start,
				Detail: fmt.Sprintf("no response headers within %v to GET /sse on instance %d", h.Bounds.Silence, conn.Instance)})
		}
		if conn.End == history.EndOpen {
			out = append(out, violation.Violation{Kind: violation.NotEnded, Client: c.Client, Conn: ci, Frame: -1, At: conn.Start,
				Detail: "the connection never ended, even after the run"})
		}
		var worst history.Wait
		var longest time.Duration
		for _, w := range conn.Waits {
			if u := conn.Unexplained(w); u > longest {
				worst, longest = w, u
			}
		}
		if longest > h.Bounds.Silence {
			out = append(out, violation.Violation{Kind: violation.Silent, Client: c.Client, Conn: ci, Frame: conn.FrameAt(worst.At), At: worst.At,
				Detail: fmt.Sprintf("a reading client waited %v for a byte on instance %d (bound %v; %d event(s) received before; ended %s after)",
					worst.For.Round(time.Millisecond), conn.Instance, h.Bounds.Silence, conn.FrameAt(worst.At)+1, conn.End)})
		}
	}
	return out
}

// checkCuts applies "a burst larger than its queue, to a client that keeps
// reading, is delivered without a cut": a stream the server ended of a
// client that reads at full speed is a
// violation unless the client had paused shortly before (it stopped
// reading), a fault came near (shutdown, resync), or the client was so far
// behind that its position may have left history.
func checkCuts(h *history.History, o *oracle.Oracle, c *history.Chain) []violation.Violation {
	var out []violation.Violation
	if c.Behaviour == history.Slow {
		// A reader that sleeps after every frame drains a batch slower than
		// a write deadline may allow: whether it "keeps reading" depends on
		// how the server measures progress, so only the others are judged.
		return nil
	}
	for ci, conn := range c.Conns {
		if !conn.End.ServerEnded() || conn.Ready == 0 || !conn.Reading(conn.EndAt-h.Bounds.StalledCut, conn.EndAt) ||
			faultNear(h, conn) || o.Lagging(conn) {
			continue
		}
		out = append(out, violation.Violation{Kind: violation.Cut, Client: c.Client, Conn: ci, Frame: len(conn.Frames) - 1, At: conn.EndAt,
			Detail: fmt.Sprintf("the server ended (%s) the stream of a %s client that kept reading, on instance %d, with no fault near",
				conn.End, c.Behaviour, conn.Instance)})
	}
	return out
}

// mayBeStallCut reports whether the stall rule may have ended conn: its
// client paused for at least the write timeout within StalledCut before the
// end.
func mayBeStallCut(b history.Bounds, conn *history.Conn) bool {
	for _, p := range conn.Pauses {
		if p.To-p.From >= b.WriteTimeout && p.To >= conn.EndAt-b.StalledCut {
			return true
		}
	}
	return false
}

// faultNear reports whether a fault explains the end of conn: its own
// process was stopped while it was open (a slow reader sees that end only
// after draining), or another fault was under way when it ended.
func faultNear(h *history.History, conn *history.Conn) bool {
	for _, f := range h.Faults {
		own := (f.Kind == history.FaultKill || f.Kind == history.FaultTerm) && f.Instance == conn.Instance && f.Incarnation == conn.Incarnation
		if own && conn.Ready <= f.At || conn.EndAt >= f.At-time.Second && conn.EndAt <= max(f.At, f.Restarted)+8*time.Second {
			return true
		}
	}
	return false
}

// checkFaults applies the rules about streams of a killed or stopped
// instance: each ends on the wire within the bound; after SIGTERM a client
// that was reading gets a final retry and a terminated body, and the process
// exits 0 in time.
func checkFaults(h *history.History) []violation.Violation {
	var out []violation.Violation
	for _, f := range h.Faults {
		if f.Kind != history.FaultKill && f.Kind != history.FaultTerm {
			continue
		}
		bound := h.Bounds.EndAfterKill
		if f.Kind == history.FaultTerm {
			bound = h.Bounds.EndAfterTerm
			if f.Exited == 0 || f.Exited-f.At > bound || f.ExitCode != 0 {
				out = append(out, violation.Violation{Kind: violation.Shutdown, Client: -1, Conn: -1, Frame: -1, At: f.At,
					Detail: fmt.Sprintf("SIGTERM to instance %d#%d: %s", f.Instance, f.Incarnation, exitText(f, bound))})
			}
		}
		for _, c := range h.Chains {
			for ci, conn := range c.Conns {
				if v, ok := checkEnd(h.Bounds, c, ci, conn, f, bound); ok {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// checkEnd applies the fault rules to one connection: if it was subscribed
// to the process f hit and still open then, it ended within bound and,
// after SIGTERM, cleanly.
func checkEnd(bounds history.Bounds, c *history.Chain, ci int, conn *history.Conn, f history.Fault, bound time.Duration) (violation.Violation, bool) {
	if conn.Instance != f.Instance || conn.Incarnation != f.Incarnation || conn.Ready == 0 || conn.Ready > f.At {
		return violation.Violation{}, false
	}
	if conn.EndAt != 0 && conn.EndAt < f.At {
		return violation.Violation{}, false
	}
	// The end comes after whatever the kernel still held for the
	// client, so a slow reader sees it late: the rule is that a
	// client reading after the fault never waits long for bytes.
	if waited := conn.WaitAfter(conn.ResumedAt(f.At)); waited > bound || conn.End == history.EndOpen || conn.End == history.EndWatchdog {
		return violation.Violation{Kind: violation.NotEnded, Client: c.Client, Conn: ci, Frame: conn.FrameAt(f.At), At: f.At,
			Detail: fmt.Sprintf("%s of instance %d#%d: the stream stayed open, the client reading from %v waited %v for bytes (bound %v; ended %q at %v)",
				f.Kind, f.Instance, f.Incarnation, conn.ResumedAt(f.At).Round(time.Millisecond), waited.Round(time.Millisecond),
				bound, conn.End, conn.EndAt.Round(time.Millisecond))}, true
	}
	if !conn.End.ServerEnded() {
		return violation.Violation{}, false // the client left first
	}
	// A slow reader may be megabytes behind: its final write can
	// outlast the shutdown wait, and a cut is then right. A client that
	// paused for the write timeout shortly before may have been cut for it
	// before the fault, and seen the reset only once it read again.
	if f.Kind == history.FaultTerm && c.Behaviour != history.Slow && conn.Reading(f.At, conn.EndAt) &&
		!mayBeStallCut(bounds, conn) && (conn.End != history.EndEOF || conn.Retries < 2) {
		return violation.Violation{Kind: violation.Unclean, Client: c.Client, Conn: ci, Frame: conn.FrameAt(f.At), At: conn.EndAt,
			Detail: fmt.Sprintf("SIGTERM of instance %d#%d ended a reading stream with %q after %d retry line(s), want a final retry and end of body",
				f.Instance, f.Incarnation, conn.End, conn.Retries)}, true
	}
	return violation.Violation{}, false
}

func exitText(f history.Fault, bound time.Duration) string {
	if f.Exited == 0 {
		return fmt.Sprintf("still running %v later (killed)", bound)
	}
	return fmt.Sprintf("exited with code %d after %v (bound %v)", f.ExitCode, (f.Exited - f.At).Round(time.Millisecond), bound)
}

// checkResources compares each instance's resources after the run with
// their baseline, and the memory left on sockets the server had closed.
func checkResources(h *history.History) []violation.Violation {
	var out []violation.Violation
	b := h.Bounds
	for _, r := range h.Resources {
		if r.MaxOrphan > b.OrphanQueue {
			out = append(out, violation.Violation{Kind: violation.Pinned, Client: -1, Conn: -1, Frame: -1, At: r.OrphanAt,
				Detail: fmt.Sprintf("instance %d#%d: a socket it had closed still held %d bytes in the kernel (bound %d)",
					r.Instance, r.Incarnation, r.MaxOrphan, b.OrphanQueue)})
		}
		leak := func(what string, before, after, slack int64) {
			if after > before+slack {
				out = append(out, violation.Violation{Kind: violation.Leak, Client: -1, Conn: -1, Frame: -1, At: r.After.At,
					Detail: fmt.Sprintf("instance %d#%d: %s %d before the clients, %d after them (tolerance %d)",
						r.Instance, r.Incarnation, what, before, after, slack)})
			}
		}
		if r.After.At == 0 {
			continue // a process that did not live to the end
		}
		leak("file descriptors", int64(r.Before.FDs), int64(r.After.FDs), int64(b.FDSlack))
		leak("goroutines", int64(r.Before.Goroutines), int64(r.After.Goroutines), int64(b.GoroutineSlack))
		// two: the runner's own probe may be closing
		leak("established sockets on its port", int64(r.Before.Sockets), int64(r.After.Sockets), 2)
		leak("bytes queued in the kernel on its sockets", r.Before.Queued, r.After.Queued, b.QueueSlack)
	}
	return out
}
