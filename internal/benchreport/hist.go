// Package benchreport is what the load benchmark (cmd/ssebench) measures and
// prints: a latency histogram, the results of its processes merged into one
// report, and the report as text, JSON or a Markdown table of several runs.
package benchreport

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, so a recorded value is off by at most 1/2^subBits (about 3%).
const (
	subBits    = 5
	subBuckets = 1 << subBits
	magnitudes = 64 - subBits + 1
)

// Hist is a log-bucketed histogram of durations in microseconds, HDR style:
// constant memory, safe for concurrent Record, mergeable across processes.
type Hist struct {
	Counts [magnitudes * subBuckets]atomic.Uint64
	MaxUs  atomic.Uint64
}

func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - subBits - 1
	return shift*subBuckets + int(us>>uint(shift))
}

// lowOf is the smallest value in bucket i.
func lowOf(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	return uint64(i%subBuckets+subBuckets) << uint(shift)
}

// Record adds one duration; negative ones count as zero.
func (h *Hist) Record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.Counts[bucketOf(us)].Add(1)
	for {
		m := h.MaxUs.Load()
		if us <= m || h.MaxUs.CompareAndSwap(m, us) {
			return
		}
	}
}

// Snapshot is a Hist's content as sparse buckets, for JSON between processes.
type Snapshot struct {
	Buckets map[int]uint64 `json:"buckets"`
	MaxUs   uint64         `json:"maxUs"`
}

// Snapshot copies the histogram's counts.
func (h *Hist) Snapshot() Snapshot {
	s := Snapshot{Buckets: map[int]uint64{}, MaxUs: h.MaxUs.Load()}
	for i := range h.Counts {
		if n := h.Counts[i].Load(); n > 0 {
			s.Buckets[i] = n
		}
	}
	return s
}

// Merge adds another process's snapshot.
func (h *Hist) Merge(s Snapshot) {
	for i, n := range s.Buckets {
		h.Counts[i].Add(n)
	}
	for {
		m := h.MaxUs.Load()
		if s.MaxUs <= m || h.MaxUs.CompareAndSwap(m, s.MaxUs) {
			return
		}
	}
}

// Total is the number of recorded values.
func (h *Hist) Total() uint64 {
	var n uint64
	for i := range h.Counts {
		n += h.Counts[i].Load()
	}
	return n
}

// Quantile returns the lower bound of the bucket holding quantile q, in
// milliseconds; the maximum is exact.
func (h *Hist) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 {
		return 0
	}
	if q >= 1 {
		return float64(h.MaxUs.Load()) / 1000
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i := range h.Counts {
		seen += h.Counts[i].Load()
		if seen >= rank {
			return float64(min(lowOf(i), h.MaxUs.Load())) / 1000
		}
	}
	return float64(h.MaxUs.Load()) / 1000
}

// add returns the sum of two snapshots.
func (s Snapshot) add(o Snapshot) Snapshot {
	out := Snapshot{Buckets: map[int]uint64{}, MaxUs: max(s.MaxUs, o.MaxUs)}
	for i, n := range s.Buckets {
		out.Buckets[i] += n
	}
	for i, n := range o.Buckets {
		out.Buckets[i] += n
	}
	return out
}
