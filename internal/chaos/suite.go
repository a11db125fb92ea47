package chaos

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// Result is one checked run.
type Result struct {
	Schedule   Schedule
	History    *History
	Violations []Violation
}

// RunChecked generates the schedule of o, runs it and checks its history.
func RunChecked(ctx context.Context, o Options, cfg Config) (Result, error) {
	s := Generate(o)
	h, err := Run(ctx, s, cfg)
	if err != nil {
		return Result{Schedule: s}, fmt.Errorf("seed %d, mode %s: %w", o.Seed, o.Mode, err)
	}
	return Result{Schedule: s, History: h, Violations: Check(h)}, nil
}

// Shrunk returns the options of a smaller run aimed at v: the same seed,
// only v's client, and the run cut a few seconds after v, so the bursts and
// faults up to it are the same. Nil when v involves no client.
func Shrunk(o Options, v Violation) *Options {
	if v.Client < 0 {
		return nil
	}
	small := o
	small.Only = []int{v.Client}
	small.Duration = min(o.Duration, (v.At + 5*time.Second).Round(time.Second))
	return &small
}

// Reproduces reports whether res has a violation of kind.
func (res Result) Reproduces(kind Kind) bool {
	for _, v := range res.Violations {
		if v.Kind == kind {
			return true
		}
	}
	return false
}

// perKind bounds how many violations of one kind Report explains in full;
// the rest are counted.
const perKind = 3

// Report writes what the run did and, for each violation kind, the
// projections of its first violations.
func Report(w io.Writer, res Result) {
	h := res.History
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
	if len(h.Faults) > 0 {
		fmt.Fprint(w, "  faults:")
		for _, f := range h.Faults {
			fmt.Fprintf(w, " %v %s %d#%d;", f.At.Round(100*time.Millisecond), f.Kind, f.Instance, f.Incarnation)
		}
		fmt.Fprintln(w)
	}
	for _, r := range h.Resources {
		if r.After.At > 0 {
			fmt.Fprintf(w, "  instance %d#%d: fds %d→%d, goroutines %d→%d, sockets %d→%d, kernel queue %d→%d B, sockstat mem %d→%d pages, max orphan %d B\n",
				r.Instance, r.Incarnation, r.Before.FDs, r.After.FDs, r.Before.Goroutines, r.After.Goroutines,
				r.Before.Sockets, r.After.Sockets, r.Before.Queued, r.After.Queued, r.Before.SockMem, r.After.SockMem, r.MaxOrphan)
		}
	}
	if len(res.Violations) == 0 {
		fmt.Fprintf(w, "seed %d, mode %s: no violation\n", h.Seed, h.Mode)
		return
	}
	counts := map[Kind]int{}
	var kinds []Kind
	for _, v := range res.Violations {
		if counts[v.Kind] == 0 {
			kinds = append(kinds, v.Kind)
		}
		counts[v.Kind]++
	}
	slices.Sort(kinds)
	fmt.Fprintf(w, "seed %d, mode %s: %d violation(s):", h.Seed, h.Mode, len(res.Violations))
	for _, k := range kinds {
		fmt.Fprintf(w, " %s×%d", k, counts[k])
	}
	fmt.Fprintln(w)
	shown := map[Kind]int{}
	for _, v := range res.Violations {
		if shown[v.Kind]++; shown[v.Kind] <= perKind {
			fmt.Fprintln(w, Explain(h, v))
		}
	}
}
