package oracle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/violation"
	"ssehub/internal/eventid"
)

// chainState is what the walk of a chain knows of its events so far.
type chainState struct {
	last      *eventid.ID
	lastText  string
	lastInc   int           // the process that sent the last id
	lastAt    time.Duration // when it was published (or came, if unknown)
	resetSeen bool
	tokens    map[string]seenAt
	markers   map[string]bool
}

type seenAt struct {
	id string
	at time.Duration
}

// Chain applies the per-chain rules: ids strictly increase, every event
// is one that was published on a subscribed topic with its bytes, and no
// acknowledged event of the chain's topics is skipped unless a reset came
// between. With no id yet (a fresh subscription), the events owed are those
// whose publish started after the connection's preamble arrived.
func (o *Oracle) Chain(c *history.Chain) []violation.Violation {
	w := &chainWalk{o: o, c: c, st: chainState{tokens: map[string]seenAt{}, markers: map[string]bool{}}, subscribed: -1}
	for ci, conn := range c.Conns {
		if w.st.last == nil && conn.Ready > 0 {
			w.subscribed = conn.Ready
		}
		for fi, f := range conn.Frames {
			w.ci, w.fi = ci, fi
			w.frame(conn, f)
		}
	}
	w.finalMarkers()
	return w.out
}

// chainWalk applies the per-chain rules to one chain's frames in order.
type chainWalk struct {
	o  *Oracle
	c  *history.Chain
	st chainState
	// subscribed is when the chain subscribed while it held no id (-1
	// before): the events owed start there.
	subscribed time.Duration
	ci, fi     int // where the frame being checked is
	out        []violation.Violation
}

// add reports a violation at the frame being checked.
func (w *chainWalk) add(kind violation.Kind, at time.Duration, ids []string, format string, args ...any) {
	w.out = append(w.out, violation.Violation{Kind: kind, Client: w.c.Client, Conn: w.ci, Frame: w.fi, At: at, IDs: ids,
		Detail: fmt.Sprintf(format, args...)})
}

// frame checks f, received on conn, against what the chain received before.
func (w *chainWalk) frame(conn *history.Conn, f history.Frame) {
	if f.IsReset() {
		w.reset(conn, f)
		return
	}
	if f.Event == "tick" {
		return
	}
	id, err := eventid.Parse(f.ID)
	if err != nil {
		w.add(violation.Phantom, f.At, []string{f.ID}, "event with malformed id %q", f.ID)
		return
	}
	w.origin(f)
	if w.st.last != nil && !w.st.last.Less(id) {
		kind := violation.Order
		if *w.st.last == id {
			kind = violation.Duplicate
		}
		w.add(kind, f.At, []string{w.st.lastText, f.ID}, "event %s after %s", f.ID, w.st.lastText)
		return
	}
	w.once(f)
	if !w.st.resetSeen {
		w.gap(f, id)
	}
	w.advance(conn, f, id)
}

// reset excuses the next gap, and is needless when conn resumed from an
// id the server surely still had.
func (w *chainWalk) reset(conn *history.Conn, f history.Frame) {
	w.st.resetSeen = true
	if w.st.last != nil && conn.LastEventID == w.st.lastText && w.o.retained(w.st, conn, f.At) {
		w.add(violation.Needless, f.At, []string{w.st.lastText}, "reset %q for %s, which the server still had (sent by %d#%d at %v)",
			f.Reason, w.st.lastText, conn.Instance, w.st.lastInc, w.st.lastAt.Round(time.Millisecond))
	}
}

// origin checks that f was published, on a topic of the chain, with the
// bytes it carries.
func (w *chainWalk) origin(f history.Frame) {
	topic, known := w.o.topicOf[f.Token]
	switch {
	case !known:
		w.add(violation.Phantom, f.At, []string{f.ID}, "event %s carries token %q that no publisher sent", f.ID, f.Token)
	case !slices.Contains(w.c.Topics, topic):
		w.add(violation.Phantom, f.At, []string{f.ID}, "event %s is on topic %s, not subscribed (%v)", f.ID, topic, w.c.Topics)
	}
	if f.Corrupt {
		w.add(violation.Corrupt, f.At, []string{f.ID}, "event %s: data differs from what publish %s sent", f.ID, f.Token)
	}
}

// once checks that f's publish did not reach the chain before as another
// event. The first copy was appended after the token's first try, maybe
// well before this client read it: a loss since then excuses.
func (w *chainWalk) once(f history.Frame) {
	if prev, ok := w.st.tokens[f.Token]; ok && !w.o.excused(min(prev.at, w.o.firstTry[f.Token]), f.At) {
		w.add(violation.Double, f.At, []string{prev.id, f.ID}, "publish %s delivered as %s and again as %s", f.Token, prev.id, f.ID)
	}
}

// gap checks that no acknowledged event of the chain's topics lies between
// the chain's last event (or its subscription) and f, whose id is id.
func (w *chainWalk) gap(f history.Frame, id eventid.ID) {
	hi := id
	if missing := w.o.between(w.c.Topics, w.st.last, &hi, sinceFor(w.st.last, w.subscribed)); len(missing) > 0 {
		w.add(violation.Gap, f.At, gapIDs(w.st.lastText, f.ID, missing),
			"%d acknowledged event(s) missing between %s and %s with no reset: %s",
			len(missing), orStart(w.st.lastText), f.ID, listIDs(missing))
	}
}

// advance makes f, with id id and received on conn, the chain's last event.
func (w *chainWalk) advance(conn *history.Conn, f history.Frame, id eventid.ID) {
	st := &w.st
	st.resetSeen = false
	st.last, st.lastText, st.lastInc, st.lastAt = &id, f.ID, conn.Incarnation, f.At
	if e, ok := w.o.byToken[f.Token]; ok {
		st.lastAt = min(f.At, e.start) // a slow reader gets it long after it was published
	}
	st.tokens[f.Token] = seenAt{id: f.ID, at: f.At}
	st.markers[f.Token] = true
}

// finalMarkers checks that a chain served in the final phase received the
// final marker of each of its topics; one missing is reported with the
// events the chain was owed after its last one.
func (w *chainWalk) finalMarkers() {
	for _, t := range w.c.Topics {
		m, ok := w.o.h.Markers[t]
		if !ok || w.st.markers[m] || !subscribedAtEnd(w.c, w.o.h.QuiesceAt) {
			continue
		}
		missing := w.o.between(w.c.Topics, w.st.last, nil, sinceFor(w.st.last, w.subscribed))
		w.ci, w.fi = len(w.c.Conns)-1, -1
		at := w.o.h.QuiesceAt
		if w.ci >= 0 {
			at = w.c.Conns[w.ci].EndAt
		}
		w.add(violation.Undelivered, at, gapIDs(w.st.lastText, "", missing),
			"the final marker of %s never arrived; after %s, %d acknowledged event(s) were not delivered: %s",
			t, orStart(w.st.lastText), len(missing), listIDs(missing))
	}
}

// subscribedAtEnd reports whether the chain had a stream in the final phase:
// one that was subscribed then or after. A chain the server never served
// then (every request refused, or never answered) owes nothing: its
// requests are judged on their own.
func subscribedAtEnd(c *history.Chain, quiesce time.Duration) bool {
	for _, conn := range c.Conns {
		if conn.Ready > 0 && (conn.EndAt >= quiesce || conn.End == history.EndOpen) {
			return true
		}
	}
	return false
}

// retained reports whether the chain's last id was surely still in the
// history conn resumed from at: in memory mode, the same process sent it;
// in Redis mode, Redis was not touched since; and either way far fewer
// events than history holds came after it, well within its age.
func (o *Oracle) retained(st chainState, conn *history.Conn, at time.Duration) bool {
	if o.h.Mode == history.ModeMemory && conn.Incarnation != st.lastInc {
		return false
	}
	for _, f := range o.h.Faults {
		touches := f.Kind.LosesHistory(o.h.Mode) || f.Kind == history.FaultRedisDown
		if touches && f.At >= st.lastAt-time.Second && f.At <= at {
			return false
		}
	}
	return o.published(st.lastAt, at) < o.h.Bounds.ReplaySize/2 && at-st.lastAt < o.h.Bounds.ReplayAge/2
}

// sinceFor is the publish start from which events are owed: any time once
// the chain holds an id (resume covers the rest), else its subscription.
func sinceFor(last *eventid.ID, subscribed time.Duration) time.Duration {
	if last != nil {
		return -1
	}
	return subscribed
}

func orStart(s string) string {
	if s == "" {
		return "the subscription"
	}
	return s
}

func gapIDs(lo, hi string, missing []acked) []string {
	ids := []string{lo, hi}
	for _, m := range missing {
		ids = append(ids, m.text)
	}
	return ids
}

func listIDs(evs []acked) string {
	var b strings.Builder
	for i, e := range evs {
		if i == 5 {
			fmt.Fprintf(&b, " ... (%d more)", len(evs)-5)
			break
		}
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s(%s)", e.text, e.token)
	}
	return b.String()
}
