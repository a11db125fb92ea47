package oracle

import (
	"fmt"
	"time"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/violation"
)

// Cuts applies "a burst larger than its queue, to a client that keeps
// reading, is delivered without a cut": a stream the server ended of a
// client that reads at full speed is a
// violation unless the client had paused shortly before (it stopped
// reading), a fault came near (shutdown, resync), or the client was so far
// behind that its position may have left history.
func (o *Oracle) Cuts(c *history.Chain) []violation.Violation {
	var out []violation.Violation
	if c.Behaviour == history.Slow {
		// A reader that sleeps after every frame drains a batch slower than
		// a write deadline may allow: whether it "keeps reading" depends on
		// how the server measures progress, so only the others are judged.
		return nil
	}
	for ci, conn := range c.Conns {
		if !conn.End.ServerEnded() || conn.Ready == 0 || !conn.Reading(conn.EndAt-o.h.Bounds.StalledCut, conn.EndAt) ||
			o.faultNear(conn) || o.lagging(conn) {
			continue
		}
		out = append(out, violation.Violation{Kind: violation.Cut, Client: c.Client, Conn: ci, Frame: len(conn.Frames) - 1, At: conn.EndAt,
			Detail: fmt.Sprintf("the server ended (%s) the stream of a %s client that kept reading, on instance %d, with no fault near",
				conn.End, c.Behaviour, conn.Instance)})
	}
	return out
}

// faultNear reports whether a fault explains the end of conn: its own
// process was stopped while it was open (a slow reader sees that end only
// after draining), or another fault was under way when it ended.
func (o *Oracle) faultNear(conn *history.Conn) bool {
	for _, f := range o.h.Faults {
		own := (f.Kind == history.FaultKill || f.Kind == history.FaultTerm) && f.Instance == conn.Instance && f.Incarnation == conn.Incarnation
		if own && conn.Ready <= f.At || conn.EndAt >= f.At-time.Second && conn.EndAt <= max(f.At, f.Restarted)+8*time.Second {
			return true
		}
	}
	return false
}

// lagging reports whether, when conn ended, at least half of history had
// been published after the last event it received (ticks counted at one a
// second): a server may cut a client that falls behind history.
func (o *Oracle) lagging(conn *history.Conn) bool {
	since := conn.Ready
	for i := len(conn.Frames) - 1; i >= 0; i-- {
		if e, ok := o.byToken[conn.Frames[i].Token]; ok {
			since = e.done
			break
		}
	}
	return o.published(since, conn.EndAt) >= o.h.Bounds.ReplaySize/2
}
