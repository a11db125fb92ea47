package report

import (
	"fmt"
	"io"
	"slices"
	"time"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/violation"
)

// perKind bounds how many violations of one kind Write explains in full;
// the rest are counted.
const perKind = 3

// Write writes what the run of h did and, for each violation kind, the
// projections of its first violations.
func Write(w io.Writer, h *history.History, vs []violation.Violation) {
	writeRun(w, h)
	writeFaults(w, h.Faults)
	writeResources(w, h.Resources)
	if len(vs) == 0 {
		fmt.Fprintf(w, "seed %d, mode %s: no violation\n", h.Seed, h.Mode)
		return
	}
	writeKinds(w, h, vs)
	shown := map[violation.Kind]int{}
	for _, v := range vs {
		if shown[v.Kind]++; shown[v.Kind] <= perKind {
			fmt.Fprintln(w, Explain(h, v))
		}
	}
}

// writeRun writes the size of the run: clients, connections, events,
// publishes and faults.
func writeRun(w io.Writer, h *history.History) {
	conns, frames, acked := 0, 0, 0
	for _, c := range h.Chains {
		conns += len(c.Conns)
		for _, cn := range c.Conns {
			frames += len(cn.Frames)
		}
	}
	for _, p := range h.Publishes {
		if p.Acked() {
			acked++
		}
	}
	fmt.Fprintf(w, "seed %d, mode %s: %d clients, %d connections, %d events received, %d publish attempts (%d acknowledged), %d faults\n",
		h.Seed, h.Mode, len(h.Chains), conns, frames, len(h.Publishes), acked, len(h.Faults))
}

// writeFaults writes one line with every fault, if any.
func writeFaults(w io.Writer, faults []history.Fault) {
	if len(faults) == 0 {
		return
	}
	fmt.Fprint(w, "  faults:")
	for _, f := range faults {
		fmt.Fprintf(w, " %v %s %d#%d;", f.At.Round(100*time.Millisecond), f.Kind, f.Instance, f.Incarnation)
	}
	fmt.Fprintln(w)
}

// writeResources writes each process that lived to the end: its resources
// before the clients and after them.
func writeResources(w io.Writer, rs []history.Resources) {
	for _, r := range rs {
		if r.After.At > 0 {
			fmt.Fprintf(w, "  instance %d#%d: fds %d→%d, goroutines %d→%d, sockets %d→%d, kernel queue %d→%d B, sockstat mem %d→%d pages, max orphan %d B\n",
				r.Instance, r.Incarnation, r.Before.FDs, r.After.FDs, r.Before.Goroutines, r.After.Goroutines,
				r.Before.Sockets, r.After.Sockets, r.Before.Queued, r.After.Queued, r.Before.SockMem, r.After.SockMem, r.MaxOrphan)
		}
	}
}

// writeKinds writes how many violations of each kind the run has.
func writeKinds(w io.Writer, h *history.History, vs []violation.Violation) {
	counts := map[violation.Kind]int{}
	var kinds []violation.Kind
	for _, v := range vs {
		if counts[v.Kind] == 0 {
			kinds = append(kinds, v.Kind)
		}
		counts[v.Kind]++
	}
	slices.Sort(kinds)
	fmt.Fprintf(w, "seed %d, mode %s: %d violation(s):", h.Seed, h.Mode, len(vs))
	for _, k := range kinds {
		fmt.Fprintf(w, " %s×%d", k, counts[k])
	}
	fmt.Fprintln(w)
}
