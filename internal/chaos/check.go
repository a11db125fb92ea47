package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"ssehub/internal/eventid"
)

// Kind names the contract rule a violation breaks.
type Kind string

// The violation kinds Check reports.
const (
	KindGap         Kind = "gap"               // an acknowledged event skipped without a reset
	KindDuplicate   Kind = "duplicate"         // the same id twice in a chain
	KindOrder       Kind = "out-of-order"      // an id lower than one already received
	KindDouble      Kind = "double-delivery"   // one idempotent publish became two events
	KindPhantom     Kind = "phantom"           // an event nobody published on a subscribed topic
	KindNeedless    Kind = "needless-reset"    // a reset for an id the server still had
	KindCorrupt     Kind = "corrupt"           // data other than the bytes published
	KindAckMismatch Kind = "ack-mismatch"      // one id acknowledged for two different publishes
	KindUndelivered Kind = "undelivered"       // a reading client never got the final marker
	KindSilent      Kind = "silent"            // no byte past the heartbeat bound on an open stream
	KindNoAnswer    Kind = "no-answer"         // a GET /sse that got no response headers in time
	KindCut         Kind = "cut-while-reading" // the server ended the stream of a client that kept reading
	KindNotEnded    Kind = "not-ended"         // a stream of a killed or stopped instance stayed open
	KindUnclean     Kind = "unclean-end"       // SIGTERM ended a reading stream without retry and end of body
	KindShutdown    Kind = "shutdown"          // SIGTERM did not exit 0 within the bound
	KindLeak        Kind = "leak"              // resources above their baseline after the run
	KindPinned      Kind = "pinned"            // a closed socket kept kernel memory
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

// acked is one acknowledged event of the publish log.
type acked struct {
	id    eventid.ID
	text  string
	token string
	start time.Duration // when the acknowledged attempt started
	done  time.Duration
}

// oracle is the publish log indexed for the chain checks.
type oracle struct {
	h       *History
	byTopic map[string][]acked // sorted by id
	byToken map[string]acked
	dones   []time.Duration   // when each acknowledged event was acked, sorted
	topicOf map[string]string // token → topic, every attempt (acked or not)
	// firstTry: when the token's first attempt started; its first copy was
	// appended after that.
	firstTry map[string]time.Duration
	losses   []Interval // faults that may lose history, from start to back
}

// Check verifies h against the contract and returns every violation, in
// time order. It is a pure function of h.
func Check(h *History) []Violation {
	o, out := newOracle(h)
	for _, c := range h.Chains {
		out = append(out, o.checkChain(c)...)
		out = append(out, checkStreams(h, c)...)
		out = append(out, o.checkCuts(c)...)
	}
	out = append(out, checkFaults(h)...)
	out = append(out, checkResources(h)...)
	slices.SortStableFunc(out, func(a, b Violation) int { return int(a.At - b.At) })
	return out
}

// newOracle indexes the publish log and checks it on its own: one id is
// never acknowledged for two tokens (a key leaking across topics does that),
// and one token (one idempotent publish) is never acknowledged with two ids
// while its key is in history.
func newOracle(h *History) (*oracle, []Violation) {
	o := &oracle{h: h, byTopic: map[string][]acked{}, byToken: map[string]acked{}, topicOf: map[string]string{},
		firstTry: map[string]time.Duration{}}
	for _, f := range h.Faults {
		if f.Kind.LosesHistory(h.Mode) {
			// A FLUSHALL or a restore takes effect somewhere between
			// the fault's start and its end.
			o.losses = append(o.losses, Interval{From: f.At, To: max(f.At, f.Restarted)})
		}
	}
	var out []Violation
	tokenOfID := map[string]Publish{}
	idsOfToken := map[string]Publish{}
	// The log is in order of answers, not of the server's decisions: an
	// answer that created the event comes before one that found it a
	// duplicate, so the id goes to the publish that created it.
	pubs := slices.Clone(h.Publishes)
	slices.SortStableFunc(pubs, func(a, b Publish) int {
		switch {
		case a.Dup == b.Dup:
			return 0
		case b.Dup:
			return -1
		}
		return 1
	})
	for _, p := range pubs {
		o.topicOf[p.Token] = p.Topic
		if at, ok := o.firstTry[p.Token]; !ok || p.Start < at {
			o.firstTry[p.Token] = p.Start
		}
		if !p.Acked() {
			continue
		}
		id, err := eventid.Parse(p.ID)
		if err != nil {
			out = append(out, Violation{Kind: KindAckMismatch, Client: -1, Conn: -1, Frame: -1, At: p.Done,
				IDs: []string{p.ID}, Detail: fmt.Sprintf("publish %s acknowledged with a malformed id %q", p.Token, p.ID)})
			continue
		}
		if first, ok := tokenOfID[p.ID]; ok && first.Token != p.Token {
			out = append(out, Violation{Kind: KindAckMismatch, Client: -1, Conn: -1, Frame: -1, At: p.Done,
				IDs: []string{p.ID}, Detail: fmt.Sprintf("id %s acknowledged for publish %s (topic %s, key %q) and for %s (topic %s, key %q)",
					p.ID, first.Token, first.Topic, first.Key, p.Token, p.Topic, p.Key)})
			continue
		}
		if first, ok := idsOfToken[p.Token]; ok && first.ID != p.ID {
			// Each append ran somewhere within its attempt: a loss from the
			// first's start to the second's end may lie between them.
			if !o.excused(first.Start, p.Done) {
				out = append(out, Violation{Kind: KindDouble, Client: -1, Conn: -1, Frame: -1, At: p.Done,
					IDs: []string{first.ID, p.ID}, Detail: fmt.Sprintf("publish %s (key %q) acknowledged as %s and again as %s",
						p.Token, p.Key, first.ID, p.ID)})
			}
			continue
		}
		if _, ok := tokenOfID[p.ID]; ok {
			continue // a retry answered with the same id: one event
		}
		tokenOfID[p.ID], idsOfToken[p.Token] = p, p
		e := acked{id: id, text: p.ID, token: p.Token, start: p.Start, done: p.Done}
		o.byTopic[p.Topic] = append(o.byTopic[p.Topic], e)
		o.byToken[p.Token] = e
		o.dones = append(o.dones, p.Done)
	}
	slices.Sort(o.dones)
	for t := range o.byTopic {
		slices.SortFunc(o.byTopic[t], func(a, b acked) int { return cmpID(a.id, b.id) })
	}
	return o, out
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
func (o *oracle) excused(from, to time.Duration) bool {
	for _, l := range o.losses {
		if l.To >= from && l.From <= to {
			return true
		}
	}
	return o.published(from, to) >= o.h.Bounds.ReplaySize
}

// published counts the events acknowledged between from and to, ticks
// included at one a second.
func (o *oracle) published(from, to time.Duration) int {
	lo, _ := slices.BinarySearch(o.dones, from)
	hi, _ := slices.BinarySearch(o.dones, to)
	return hi - lo + int((to-from)/time.Second)
}

// between returns the acknowledged events of topics with lo < id < hi (no
// lower bound when lo is nil) whose acknowledged attempt started after since.
func (o *oracle) between(topics []string, lo *eventid.ID, hi *eventid.ID, since time.Duration) []acked {
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

// checkChain applies the per-chain rules: ids strictly increase, every event
// is one that was published on a subscribed topic with its bytes, and no
// acknowledged event of the chain's topics is skipped unless a reset came
// between. With no id yet (a fresh subscription), the events owed are those
// whose publish started after the connection's preamble arrived.
func (o *oracle) checkChain(c *Chain) []Violation {
	var out []Violation
	st := chainState{tokens: map[string]seenAt{}, markers: map[string]bool{}}
	subscribed := time.Duration(-1)
	v := func(kind Kind, ci, fi int, at time.Duration, ids []string, format string, args ...any) {
		out = append(out, Violation{Kind: kind, Client: c.Client, Conn: ci, Frame: fi, At: at, IDs: ids,
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
					v(KindNeedless, ci, fi, f.At, []string{st.lastText}, "reset %q for %s, which the server still had (sent by %d#%d at %v)",
						f.Reason, st.lastText, conn.Instance, st.lastInc, st.lastAt.Round(time.Millisecond))
				}
				continue
			}
			if f.Event == "tick" {
				continue
			}
			id, err := eventid.Parse(f.ID)
			if err != nil {
				v(KindPhantom, ci, fi, f.At, []string{f.ID}, "event with malformed id %q", f.ID)
				continue
			}
			topic, known := o.topicOf[f.Token]
			switch {
			case !known:
				v(KindPhantom, ci, fi, f.At, []string{f.ID}, "event %s carries token %q that no publisher sent", f.ID, f.Token)
			case !slices.Contains(c.Topics, topic):
				v(KindPhantom, ci, fi, f.At, []string{f.ID}, "event %s is on topic %s, not subscribed (%v)", f.ID, topic, c.Topics)
			}
			if f.Corrupt {
				v(KindCorrupt, ci, fi, f.At, []string{f.ID}, "event %s: data differs from what publish %s sent", f.ID, f.Token)
			}
			if st.last != nil && !st.last.Less(id) {
				kind := KindOrder
				if *st.last == id {
					kind = KindDuplicate
				}
				v(kind, ci, fi, f.At, []string{st.lastText, f.ID}, "event %s after %s", f.ID, st.lastText)
				continue
			}
			// The first copy was appended after the token's first try, maybe
			// well before this client read it: a loss since then excuses.
			if prev, ok := st.tokens[f.Token]; ok && !o.excused(min(prev.at, o.firstTry[f.Token]), f.At) {
				v(KindDouble, ci, fi, f.At, []string{prev.id, f.ID}, "publish %s delivered as %s and again as %s", f.Token, prev.id, f.ID)
			}
			if !st.resetSeen {
				hi := id
				if missing := o.between(c.Topics, st.last, &hi, sinceFor(st.last, subscribed)); len(missing) > 0 {
					v(KindGap, ci, fi, f.At, gapIDs(st.lastText, f.ID, missing),
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
		v(KindUndelivered, ci, -1, at, gapIDs(st.lastText, "", missing),
			"the final marker of %s never arrived; after %s, %d acknowledged event(s) were not delivered: %s",
			t, orStart(st.lastText), len(missing), listIDs(missing))
	}
	return out
}

// subscribedAtEnd reports whether the chain had a stream in the final phase:
// one that was subscribed then or after. A chain the server never served
// then (every request refused, or never answered) owes nothing: its
// requests are judged on their own.
func subscribedAtEnd(c *Chain, quiesce time.Duration) bool {
	for _, conn := range c.Conns {
		if conn.Ready > 0 && (conn.EndAt >= quiesce || conn.End == EndOpen) {
			return true
		}
	}
	return false
}

// retained reports whether the chain's last id was surely still in the
// history conn resumed from at: in memory mode, the same process sent it;
// in Redis mode, Redis was not touched since; and either way far fewer
// events than history holds came after it, well within its age.
func (o *oracle) retained(st chainState, conn *Conn, at time.Duration) bool {
	if o.h.Mode == ModeMemory && conn.Incarnation != st.lastInc {
		return false
	}
	for _, f := range o.h.Faults {
		touches := f.Kind.LosesHistory(o.h.Mode) || f.Kind == FaultRedisDown
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

// checkStreams applies the per-connection time rules: a client that wanted
// bytes never waited past the silence bound, and a connection always got an
// answer.
func checkStreams(h *History, c *Chain) []Violation {
	var out []Violation
	for ci, conn := range c.Conns {
		if conn.End == EndNoAnswer {
			out = append(out, Violation{Kind: KindNoAnswer, Client: c.Client, Conn: ci, Frame: -1, At: conn.Start,
				Detail: fmt.Sprintf("no response headers within %v to GET /sse on instance %d", h.Bounds.Silence, conn.Instance)})
		}
		if conn.End == EndOpen {
			out = append(out, Violation{Kind: KindNotEnded, Client: c.Client, Conn: ci, Frame: -1, At: conn.Start,
				Detail: "the connection never ended, even after the run"})
		}
		var worst Wait
		for _, w := range conn.Waits {
			if w.For > worst.For {
				worst = w
			}
		}
		if worst.For > h.Bounds.Silence {
			out = append(out, Violation{Kind: KindSilent, Client: c.Client, Conn: ci, Frame: frameAt(conn, worst.At), At: worst.At,
				Detail: fmt.Sprintf("a reading client waited %v for a byte on instance %d (bound %v; %d event(s) received before; ended %s after)",
					worst.For.Round(time.Millisecond), conn.Instance, h.Bounds.Silence, frameAt(conn, worst.At)+1, conn.End)})
		}
	}
	return out
}

// frameAt is the index of the last frame received before at, -1 if none.
func frameAt(conn *Conn, at time.Duration) int {
	i := -1
	for fi, f := range conn.Frames {
		if f.At <= at {
			i = fi
		}
	}
	return i
}

// checkCuts applies "a burst larger than its queue, to a client that keeps
// reading, is delivered without a cut": a stream the server ended of a
// client that reads at full speed is a
// violation unless the client had paused shortly before (it stopped
// reading), a fault came near (shutdown, resync), or the client was so far
// behind that its position may have left history.
func (o *oracle) checkCuts(c *Chain) []Violation {
	var out []Violation
	if c.Behaviour == Slow {
		// A reader that sleeps after every frame drains a batch slower than
		// a write deadline may allow: whether it "keeps reading" depends on
		// how the server measures progress, so only the others are judged.
		return nil
	}
	for ci, conn := range c.Conns {
		if !conn.End.ServerEnded() || conn.Ready == 0 || !reading(conn, conn.EndAt-o.h.Bounds.StalledCut, conn.EndAt) ||
			o.faultNear(conn) || o.lagging(conn) {
			continue
		}
		out = append(out, Violation{Kind: KindCut, Client: c.Client, Conn: ci, Frame: len(conn.Frames) - 1, At: conn.EndAt,
			Detail: fmt.Sprintf("the server ended (%s) the stream of a %s client that kept reading, on instance %d, with no fault near",
				conn.End, c.Behaviour, conn.Instance)})
	}
	return out
}

// faultNear reports whether a fault explains the end of conn: its own
// process was stopped while it was open (a slow reader sees that end only
// after draining), or another fault was under way when it ended.
func (o *oracle) faultNear(conn *Conn) bool {
	for _, f := range o.h.Faults {
		own := (f.Kind == FaultKill || f.Kind == FaultTerm) && f.Instance == conn.Instance && f.Incarnation == conn.Incarnation
		if own && conn.Ready <= f.At || conn.EndAt >= f.At-time.Second && conn.EndAt <= max(f.At, f.Restarted)+8*time.Second {
			return true
		}
	}
	return false
}

// lagging reports whether, when conn ended, at least half of history had
// been published after the last event it received (ticks counted at one a
// second): a server may cut a client that falls behind history.
func (o *oracle) lagging(conn *Conn) bool {
	since := conn.Ready
	for i := len(conn.Frames) - 1; i >= 0; i-- {
		if e, ok := o.byToken[conn.Frames[i].Token]; ok {
			since = e.done
			break
		}
	}
	return o.published(since, conn.EndAt) >= o.h.Bounds.ReplaySize/2
}

// checkFaults applies the rules about streams of a killed or stopped
// instance: each ends on the wire within the bound; after SIGTERM a client
// that was reading gets a final retry and a terminated body, and the process
// exits 0 in time.
func checkFaults(h *History) []Violation {
	var out []Violation
	for _, f := range h.Faults {
		if f.Kind != FaultKill && f.Kind != FaultTerm {
			continue
		}
		bound := h.Bounds.EndAfterKill
		if f.Kind == FaultTerm {
			bound = h.Bounds.EndAfterTerm
			if f.Exited == 0 || f.Exited-f.At > bound || f.ExitCode != 0 {
				out = append(out, Violation{Kind: KindShutdown, Client: -1, Conn: -1, Frame: -1, At: f.At,
					Detail: fmt.Sprintf("SIGTERM to instance %d#%d: %s", f.Instance, f.Incarnation, exitText(f, bound))})
			}
		}
		for _, c := range h.Chains {
			for ci, conn := range c.Conns {
				if conn.Instance != f.Instance || conn.Incarnation != f.Incarnation || conn.Ready == 0 || conn.Ready > f.At {
					continue
				}
				if conn.EndAt != 0 && conn.EndAt < f.At {
					continue
				}
				// The end comes after whatever the kernel still held for the
				// client, so a slow reader sees it late: the rule is that a
				// client reading after the fault never waits long for bytes.
				if waited := waitAfter(conn, resumed(conn, f.At)); waited > bound || conn.End == EndOpen || conn.End == EndWatchdog {
					out = append(out, Violation{Kind: KindNotEnded, Client: c.Client, Conn: ci, Frame: frameAt(conn, f.At), At: f.At,
						Detail: fmt.Sprintf("%s of instance %d#%d: the stream stayed open, the client reading from %v waited %v for bytes (bound %v; ended %q at %v)",
							f.Kind, f.Instance, f.Incarnation, resumed(conn, f.At).Round(time.Millisecond), waited.Round(time.Millisecond),
							bound, conn.End, conn.EndAt.Round(time.Millisecond))})
					continue
				}
				if !conn.End.ServerEnded() {
					continue // the client left first
				}
				// A slow reader may be megabytes behind: its final write can
				// outlast the shutdown wait, and a cut is then right.
				if f.Kind == FaultTerm && c.Behaviour != Slow && reading(conn, f.At, conn.EndAt) && (conn.End != EndEOF || conn.Retries < 2) {
					out = append(out, Violation{Kind: KindUnclean, Client: c.Client, Conn: ci, Frame: frameAt(conn, f.At), At: conn.EndAt,
						Detail: fmt.Sprintf("SIGTERM of instance %d#%d ended a reading stream with %q after %d retry line(s), want a final retry and end of body",
							f.Instance, f.Incarnation, conn.End, conn.Retries)})
				}
			}
		}
	}
	return out
}

func exitText(f Fault, bound time.Duration) string {
	if f.Exited == 0 {
		return fmt.Sprintf("still running %v later (killed)", bound)
	}
	return fmt.Sprintf("exited with code %d after %v (bound %v)", f.ExitCode, (f.Exited - f.At).Round(time.Millisecond), bound)
}

// waitAfter is the longest a read of conn waited for bytes after from.
func waitAfter(conn *Conn, from time.Duration) time.Duration {
	var worst time.Duration
	for _, w := range conn.Waits {
		if end := w.At + w.For; end > from {
			worst = max(worst, end-max(w.At, from))
		}
	}
	return worst
}

// resumed is the first time from at on when the client was reading.
func resumed(conn *Conn, at time.Duration) time.Duration {
	for _, p := range conn.Pauses {
		if p.From <= at && at < p.To {
			at = p.To
		}
	}
	return at
}

// reading reports whether the client read throughout [from, to].
func reading(conn *Conn, from, to time.Duration) bool {
	for _, p := range conn.Pauses {
		if p.From <= to && p.To >= from {
			return false
		}
	}
	return true
}

// checkResources compares each instance's resources after the run with
// their baseline, and the memory left on sockets the server had closed.
func checkResources(h *History) []Violation {
	var out []Violation
	b := h.Bounds
	for _, r := range h.Resources {
		if r.MaxOrphan > b.OrphanQueue {
			out = append(out, Violation{Kind: KindPinned, Client: -1, Conn: -1, Frame: -1, At: r.OrphanAt,
				Detail: fmt.Sprintf("instance %d#%d: a socket it had closed still held %d bytes in the kernel (bound %d)",
					r.Instance, r.Incarnation, r.MaxOrphan, b.OrphanQueue)})
		}
		leak := func(what string, before, after, slack int64) {
			if after > before+slack {
				out = append(out, Violation{Kind: KindLeak, Client: -1, Conn: -1, Frame: -1, At: r.After.At,
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
