// Package oracle holds the event rules of the contract: the publish log,
// indexed, against what each chain received. It checks the log on its own
// (one id per publish, one publish per id), then each chain (order, gaps,
// resets, phantoms, bytes, double delivery, the final markers), and tells
// the other rules how far behind the log a connection was.
package oracle

import (
	"fmt"
	"slices"
	"time"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/violation"
	"ssehub/internal/eventid"
)

// acked is one acknowledged event of the publish log.
type acked struct {
	id    eventid.ID
	text  string
	token string
	start time.Duration // when the acknowledged attempt started
	done  time.Duration
}

// Oracle is the publish log indexed for the chain checks.
type Oracle struct {
	h       *history.History
	byTopic map[string][]acked // sorted by id
	byToken map[string]acked
	dones   []time.Duration   // when each acknowledged event was acked, sorted
	topicOf map[string]string // token → topic, every attempt (acked or not)
	// firstTry: when the token's first attempt started; its first copy was
	// appended after that.
	firstTry map[string]time.Duration
	losses   []history.Interval // faults that may lose history, from start to back
}

// New indexes the publish log and checks it on its own: one id is
// never acknowledged for two tokens (a key leaking across topics does that),
// and one token (one idempotent publish) is never acknowledged with two ids
// while its key is in history.
func New(h *history.History) (*Oracle, []violation.Violation) {
	o := &Oracle{h: h, byTopic: map[string][]acked{}, byToken: map[string]acked{}, topicOf: map[string]string{},
		firstTry: map[string]time.Duration{}, losses: losses(h)}
	var out []violation.Violation
	seen := ackSeen{byID: map[string]history.Publish{}, byToken: map[string]history.Publish{}}
	for _, p := range creatorsFirst(h.Publishes) {
		o.tried(p)
		if !p.Acked() {
			continue
		}
		if v := o.ack(seen, p); v != nil {
			out = append(out, *v)
		}
	}
	slices.Sort(o.dones)
	for t := range o.byTopic {
		slices.SortFunc(o.byTopic[t], func(a, b acked) int { return cmpID(a.id, b.id) })
	}
	return o, out
}

// losses are the faults of h that may lose history, each from its start to
// its end: a FLUSHALL or a restore takes effect somewhere between.
func losses(h *history.History) []history.Interval {
	var out []history.Interval
	for _, f := range h.Faults {
		if f.Kind.LosesHistory(h.Mode) {
			out = append(out, history.Interval{From: f.At, To: max(f.At, f.Restarted)})
		}
	}
	return out
}

// creatorsFirst orders the log for indexing. The log is in order of
// answers, not of the server's decisions: an answer that created the event
// comes before one that found it a duplicate, so the id goes to the publish
// that created it.
func creatorsFirst(log []history.Publish) []history.Publish {
	pubs := slices.Clone(log)
	slices.SortStableFunc(pubs, func(a, b history.Publish) int {
		switch {
		case a.Dup == b.Dup:
			return 0
		case b.Dup:
			return -1
		}
		return 1
	})
	return pubs
}

// tried indexes an attempt, acknowledged or not: its token's topic and
// first try.
func (o *Oracle) tried(p history.Publish) {
	o.topicOf[p.Token] = p.Topic
	if at, ok := o.firstTry[p.Token]; !ok || p.Start < at {
		o.firstTry[p.Token] = p.Start
	}
}

// ackSeen is the acknowledgements indexed so far, by id and by token.
type ackSeen struct {
	byID, byToken map[string]history.Publish
}

// ack indexes the acknowledged attempt p as an event, unless it is a retry
// answered with the same id or contradicts an earlier acknowledgement:
// that is a violation, unless a loss of history excuses it.
func (o *Oracle) ack(seen ackSeen, p history.Publish) *violation.Violation {
	id, err := eventid.Parse(p.ID)
	if err != nil {
		return logViolation(violation.AckMismatch, p, []string{p.ID}, "publish %s acknowledged with a malformed id %q", p.Token, p.ID)
	}
	if first, ok := seen.byID[p.ID]; ok && first.Token != p.Token {
		return logViolation(violation.AckMismatch, p, []string{p.ID}, "id %s acknowledged for publish %s (topic %s, key %q) and for %s (topic %s, key %q)",
			p.ID, first.Token, first.Topic, first.Key, p.Token, p.Topic, p.Key)
	}
	if first, ok := seen.byToken[p.Token]; ok && first.ID != p.ID {
		// Each append ran somewhere within its attempt: a loss from the
		// first's start to the second's end may lie between them.
		if o.excused(first.Start, p.Done) {
			return nil
		}
		return logViolation(violation.Double, p, []string{first.ID, p.ID}, "publish %s (key %q) acknowledged as %s and again as %s",
			p.Token, p.Key, first.ID, p.ID)
	}
	if _, ok := seen.byID[p.ID]; ok {
		return nil // a retry answered with the same id: one event
	}
	seen.byID[p.ID], seen.byToken[p.Token] = p, p
	e := acked{id: id, text: p.ID, token: p.Token, start: p.Start, done: p.Done}
	o.byTopic[p.Topic] = append(o.byTopic[p.Topic], e)
	o.byToken[p.Token] = e
	o.dones = append(o.dones, p.Done)
	return nil
}

// logViolation is a violation of the publish log alone, at p's answer.
func logViolation(kind violation.Kind, p history.Publish, ids []string, format string, args ...any) *violation.Violation {
	return &violation.Violation{Kind: kind, Client: -1, Conn: -1, Frame: -1, At: p.Done, IDs: ids, Detail: fmt.Sprintf(format, args...)}
}

func cmpID(a, b eventid.ID) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// excused reports whether a key used at from may have left history by to:
// a fault that loses history came between, or more events than history
// holds were published between (ticks counted at one a second).
func (o *Oracle) excused(from, to time.Duration) bool {
	for _, l := range o.losses {
		if l.To >= from && l.From <= to {
			return true
		}
	}
	return o.published(from, to) >= o.h.Bounds.ReplaySize
}

// published counts the events acknowledged between from and to, ticks
// included at one a second.
func (o *Oracle) published(from, to time.Duration) int {
	lo, _ := slices.BinarySearch(o.dones, from)
	hi, _ := slices.BinarySearch(o.dones, to)
	return hi - lo + int((to-from)/time.Second)
}

// Lagging reports whether, when conn ended, at least half of history had
// been published after the last event it received (ticks counted at one a
// second): a server may cut a client that falls behind history.
func (o *Oracle) Lagging(conn *history.Conn) bool {
	since := conn.Ready
	for i := len(conn.Frames) - 1; i >= 0; i-- {
		if e, ok := o.byToken[conn.Frames[i].Token]; ok {
			since = e.done
			break
		}
	}
	return o.published(since, conn.EndAt) >= o.h.Bounds.ReplaySize/2
}

// between returns the acknowledged events of topics with lo < id < hi (no
// lower bound when lo is nil) whose acknowledged attempt started after since.
func (o *Oracle) between(topics []string, lo *eventid.ID, hi *eventid.ID, since time.Duration) []acked {
	var out []acked
	for _, t := range topics {
		evs := o.byTopic[t]
		from := 0
		if lo != nil {
			from, _ = slices.BinarySearchFunc(evs, *lo, func(e acked, id eventid.ID) int { return cmpID(e.id, id) })
		}
		for _, e := range evs[from:] {
			if lo != nil && !lo.Less(e.id) {
				continue
			}
			if hi != nil && !e.id.Less(*hi) {
				break
			}
			if e.start > since {
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out, func(a, b acked) int { return cmpID(a.id, b.id) })
	return out
}
