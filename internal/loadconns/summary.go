package loadconns

import (
	"context"
	"time"

	"ssehub/internal/benchreport"
)

// Drain waits until every live connection saw seq upto, or grace passes.
func (l *Loader) Drain(upto uint64, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		behind := 0
		for i := range l.stats {
			if l.conns[i] != nil && l.stats[i].last.Load() < upto {
				behind++
			}
		}
		if behind == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// Close ends every connection and summarises; published is how many events
// every connection should have seen.
func (l *Loader) Close(published uint64) benchreport.Result {
	l.stopping.Store(true)
	for _, c := range l.conns {
		if c != nil {
			_ = c.Close()
		}
	}
	l.readers.Wait()
	r := benchreport.Result{
		Counts: benchreport.Counts{Conns: l.cfg.N, Established: l.established, FailReasons: l.failReasons,
			EstablishSec: l.establish.Seconds(), DropReasons: map[string]int{}},
		Connect: l.connect.Snapshot(), Latency: l.latency.Snapshot(),
	}
	for i := range l.stats {
		st := &l.stats[i]
		if l.conns[i] == nil {
			continue
		}
		lost := st.lost + published - min(st.last.Load(), published)
		r.Expected += published
		r.Received += st.received
		r.Lost += lost
		r.Dup += st.dup
		if lost > 0 {
			r.ConnsWithLoss++
		}
		if st.dup > 0 {
			r.ConnsWithDup++
		}
		if st.endErr != "" {
			r.Dropped++
			r.DropReasons[st.endErr]++
		}
	}
	r.Failed = l.cfg.N - l.established
	r.First = make([]int64, len(l.first))
	r.Last = make([]int64, len(l.last))
	for i := range l.first {
		r.First[i], r.Last[i] = l.first[i].Load(), l.last[i].Load()
	}
	return r
}
