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

// chainState walks one chain's events in order.
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
	var out []violation.Violation
	st := chainState{tokens: map[string]seenAt{}, markers: map[string]bool{}}
	subscribed := time.Duration(-1)
	v := func(kind violation.Kind, ci, fi int, at time.Duration, ids []string, format string, args ...any) {
		out = append(out, violation.Violation{Kind: kind, Client: c.Client, Conn: ci, Frame: fi, At: at, IDs: ids,
			Detail: fmt.Sprintf(format, args...)})
	}
	for ci, conn := range c.Conns {
		if st.last == nil && conn.Ready > 0 {
			subscribed = conn.Ready
		}
		for fi, f := range conn.Frames {
			if f.IsReset() {
				st.resetSeen = true
				if st.last != nil && conn.LastEventID == st.lastText && o.retained(st, conn, f.At) {
					v(violation.Needless, ci, fi, f.At, []string{st.lastText}, "reset %q for %s, which the server still had (sent by %d#%d at %v)",
						f.Reason, st.lastText, conn.Instance, st.lastInc, st.lastAt.Round(time.Millisecond))
				}
				continue
			}
			if f.Event == "tick" {
				continue
			}
			id, err := eventid.Parse(f.ID)
			if err != nil {
				v(violation.Phantom, ci, fi, f.At, []string{f.ID}, "event with malformed id %q", f.ID)
				continue
			}
			topic, known := o.topicOf[f.Token]
			switch {
			case !known:
				v(violation.Phantom, ci, fi, f.At, []string{f.ID}, "event %s carries token %q that no publisher sent", f.ID, f.Token)
			case !slices.Contains(c.Topics, topic):
				v(violation.Phantom, ci, fi, f.At, []string{f.ID}, "event %s is on topic %s, not subscribed (%v)", f.ID, topic, c.Topics)
			}
			if f.Corrupt {
				v(violation.Corrupt, ci, fi, f.At, []string{f.ID}, "event %s: data differs from what publish %s sent", f.ID, f.Token)
			}
			if st.last != nil && !st.last.Less(id) {
				kind := violation.Order
				if *st.last == id {
					kind = violation.Duplicate
				}
				v(kind, ci, fi, f.At, []string{st.lastText, f.ID}, "event %s after %s", f.ID, st.lastText)
				continue
			}
			// The first copy was appended after the token's first try, maybe
			// well before this client read it: a loss since then excuses.
			if prev, ok := st.tokens[f.Token]; ok && !o.excused(min(prev.at, o.firstTry[f.Token]), f.At) {
				v(violation.Double, ci, fi, f.At, []string{prev.id, f.ID}, "publish %s delivered as %s and again as %s", f.Token, prev.id, f.ID)
			}
			if !st.resetSeen {
				hi := id
				if missing := o.between(c.Topics, st.last, &hi, sinceFor(st.last, subscribed)); len(missing) > 0 {
					v(violation.Gap, ci, fi, f.At, gapIDs(st.lastText, f.ID, missing),
						"%d acknowledged event(s) missing between %s and %s with no reset: %s",
						len(missing), orStart(st.lastText), f.ID, listIDs(missing))
				}
			}
			st.resetSeen = false
			st.last, st.lastText, st.lastInc, st.lastAt = &id, f.ID, conn.Incarnation, f.At
			if e, ok := o.byToken[f.Token]; ok {
				st.lastAt = min(f.At, e.start) // a slow reader gets it long after it was published
			}
			st.tokens[f.Token] = seenAt{id: f.ID, at: f.At}
			st.markers[f.Token] = true
		}
	}
	for _, t := range c.Topics {
		m, ok := o.h.Markers[t]
		if !ok || st.markers[m] || !subscribedAtEnd(c, o.h.QuiesceAt) {
			continue
		}
		missing := o.between(c.Topics, st.last, nil, sinceFor(st.last, subscribed))
		ci := len(c.Conns) - 1
		at := o.h.QuiesceAt
		if ci >= 0 {
			at = c.Conns[ci].EndAt
		}
		v(violation.Undelivered, ci, -1, at, gapIDs(st.lastText, "", missing),
			"the final marker of %s never arrived; after %s, %d acknowledged event(s) were not delivered: %s",
			t, orStart(st.lastText), len(missing), listIDs(missing))
	}
	return out
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
