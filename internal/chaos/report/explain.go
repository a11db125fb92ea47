// Package report prints a checked chaos run: what it did and, for each
// violation, the projection of the history onto it (the client's
// connections and frames around it, the publishes and faults near it).
package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/violation"
	"ssehub/internal/eventid"
)

// window is how much run time around a violation its projection shows.
const window = 3 * time.Second

// Explain prints the projection of h onto v: the seed, the violation, the
// violating client's connections near it (with the Last-Event-ID each sent
// and the frames around the violation), the acknowledged publishes of its
// topics between the ids involved, and the faults near it. That is the
// smallest part of the history that shows the violation.
func Explain(h *history.History, v violation.Violation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, mode %s: %s\n", h.Seed, h.Mode, v)
	for _, c := range h.Chains {
		if c.Client == v.Client {
			explainChain(&b, h, c, v)
		}
	}
	faults, from := 0, v.At-4*window
	for _, p := range h.Publishes {
		if p.Acked() && slices.Contains(v.IDs, p.ID) {
			from = min(from, p.Start-window)
		}
	}
	for _, f := range h.Faults {
		if f.At >= from && f.At <= v.At+window {
			if faults == 0 {
				b.WriteString("  faults near it:\n")
			}
			faults++
			fmt.Fprintf(&b, "    %v %s instance %d#%d%s\n", f.At.Round(time.Millisecond), f.Kind, f.Instance, f.Incarnation, faultOutcome(f))
		}
	}
	if faults == 0 {
		b.WriteString("  no fault near it\n")
	}
	return b.String()
}

func faultOutcome(f history.Fault) string {
	var s string
	if f.Exited > 0 {
		s += fmt.Sprintf(", exited %d at %v", f.ExitCode, f.Exited.Round(time.Millisecond))
	}
	if f.Restarted > 0 {
		s += fmt.Sprintf(", back at %v", f.Restarted.Round(time.Millisecond))
	}
	if f.Err != "" {
		s += ", " + f.Err
	}
	return s
}

func explainChain(b *strings.Builder, h *history.History, c *history.Chain, v violation.Violation) {
	fmt.Fprintf(b, "  client %d (%s) on %v, %d connection(s):\n", c.Client, c.Behaviour, c.Topics, len(c.Conns))
	for ci, conn := range c.Conns {
		near := ci >= v.Conn-1 && ci <= v.Conn+1
		if !near {
			continue
		}
		fmt.Fprintf(b, "    conn %d: instance %d#%d from %s, Last-Event-ID %q, %v → ready %v → %s at %v",
			ci, conn.Instance, conn.Incarnation, conn.Local, conn.LastEventID, conn.Start.Round(time.Millisecond),
			conn.Ready.Round(time.Millisecond), conn.End, conn.EndAt.Round(time.Millisecond))
		if conn.Err != "" {
			fmt.Fprintf(b, " (%s)", conn.Err)
		}
		fmt.Fprintf(b, ", %d frame(s), %d retry line(s)\n", len(conn.Frames), conn.Retries)
		for _, p := range conn.Pauses {
			fmt.Fprintf(b, "      not reading %v–%v\n", p.From.Round(time.Millisecond), p.To.Round(time.Millisecond))
		}
		from, to := 0, min(len(conn.Frames), 3)
		if ci == v.Conn && v.Frame >= 0 {
			from, to = max(0, v.Frame-3), min(len(conn.Frames), v.Frame+3)
		} else if ci < v.Conn {
			from, to = max(0, len(conn.Frames)-3), len(conn.Frames)
		}
		if from > 0 {
			fmt.Fprintf(b, "      ... %d frame(s)\n", from)
		}
		for fi := from; fi < to; fi++ {
			f := conn.Frames[fi]
			mark := " "
			if ci == v.Conn && fi == v.Frame {
				mark = ">"
			}
			fmt.Fprintf(b, "     %s %v id=%q event=%s %s\n", mark, f.At.Round(time.Millisecond), f.ID, f.Event, frameText(f))
		}
		if to < len(conn.Frames) {
			fmt.Fprintf(b, "      ... %d frame(s)\n", len(conn.Frames)-to)
		}
	}
	if v.Kind != violation.NoAnswer { // a request that got no answer involves no event
		explainPublishes(b, h, c, v)
	}
}

func frameText(f history.Frame) string {
	if f.IsReset() {
		return "reason=" + f.Reason
	}
	s := "token=" + f.Token
	if f.Corrupt {
		s += " (corrupt)"
	}
	return s
}

// explainPublishes lists the acknowledged publishes of the chain's topics
// whose ids lie between the lowest and highest id of the violation.
func explainPublishes(b *strings.Builder, h *history.History, c *history.Chain, v violation.Violation) {
	var lo, hi *eventid.ID
	for _, s := range v.IDs {
		id, err := eventid.Parse(s)
		if err != nil {
			continue
		}
		if lo == nil || id.Less(*lo) {
			lo = &id
		}
		if hi == nil || hi.Less(id) {
			hi = &id
		}
	}
	var rows []string
	for _, p := range h.Publishes {
		if !slices.Contains(c.Topics, p.Topic) {
			continue
		}
		id, err := eventid.Parse(p.ID)
		inIDs := err == nil && lo != nil && !id.Less(*lo) && !hi.Less(id)
		inTime := lo == nil && p.Start >= v.At-window && p.Start <= v.At+window
		if !inIDs && !inTime {
			continue
		}
		rows = append(rows, fmt.Sprintf("    %v–%v %s key=%q on instance %d: %s",
			p.Start.Round(time.Millisecond), p.Done.Round(time.Millisecond), p.Token, p.Key, p.Instance, publishOutcome(p)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "  publishes of its topics in the window (%d):\n", len(rows))
	const most = 20
	for i, r := range rows {
		if i == most {
			fmt.Fprintf(b, "    ... %d more\n", len(rows)-most)
			break
		}
		b.WriteString(r + "\n")
	}
}

func publishOutcome(p history.Publish) string {
	switch {
	case p.Acked() && p.Dup:
		return "acked " + p.ID + " (duplicate)"
	case p.Acked():
		return "acked " + p.ID
	case p.Status != 0:
		return fmt.Sprintf("status %d %s", p.Status, p.Err)
	}
	return "no answer: " + p.Err
}
