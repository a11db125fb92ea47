package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"time"
)

// Counts are the connection and delivery tallies, per process and in the report.
type Counts struct {
	Conns         int            `json:"conns"`
	Established   int            `json:"established"`
	Failed        int            `json:"failed"`
	FailReasons   map[string]int `json:"failReasons,omitempty"`
	Dropped       int            `json:"dropped"`
	DropReasons   map[string]int `json:"dropReasons,omitempty"`
	EstablishSec  float64        `json:"establishSec"`
	Expected      uint64         `json:"expected"`
	Received      uint64         `json:"received"`
	Lost          uint64         `json:"lost"`
	Dup           uint64         `json:"duplicated"`
	ConnsWithLoss int            `json:"connsWithLoss"`
	ConnsWithDup  int            `json:"connsWithDup"`
}

// add adds another process's counts to c.
func (c *Counts) add(o Counts) {
	c.Conns += o.Conns
	c.Established += o.Established
	c.Failed += o.Failed
	c.Dropped += o.Dropped
	c.EstablishSec = max(c.EstablishSec, o.EstablishSec)
	c.Expected += o.Expected
	c.Received += o.Received
	c.Lost += o.Lost
	c.Dup += o.Dup
	c.ConnsWithLoss += o.ConnsWithLoss
	c.ConnsWithDup += o.ConnsWithDup
	c.FailReasons = addCounts(c.FailReasons, o.FailReasons)
	c.DropReasons = addCounts(c.DropReasons, o.DropReasons)
}

// Result is what one process's connections saw; the parent merges them.
type Result struct {
	Counts
	Connect Snapshot `json:"connect"`
	Latency Snapshot `json:"latency"`
	First   []int64  `json:"first,omitempty"`
	Last    []int64  `json:"last,omitempty"`
}

// merge adds another process's result to r.
func (r *Result) merge(o Result) {
	r.Counts.add(o.Counts)
	r.Connect = r.Connect.add(o.Connect)
	r.Latency = r.Latency.add(o.Latency)
	if r.First == nil {
		r.First, r.Last = make([]int64, len(o.First)), make([]int64, len(o.Last))
	}
	for i := range o.First {
		if f := o.First[i]; f != 0 && (r.First[i] == 0 || f < r.First[i]) {
			r.First[i] = f
		}
		r.Last[i] = max(r.Last[i], o.Last[i])
	}
}

func addCounts(dst, src map[string]int) map[string]int {
	if dst == nil {
		dst = map[string]int{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// Quantiles are a distribution's summary in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func quantiles(h *Hist) Quantiles {
	return Quantiles{h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Quantile(1)}
}

// Report is the run's outcome, printed as text or JSON.
type Report struct {
	Scenario string    `json:"scenario"`
	Start    time.Time `json:"start"`
	Procs    int       `json:"procs"`
	Srcs     int       `json:"sourceAddrs"`
	Counts
	ConnectMs     Quantiles     `json:"connectMs"`
	Rate          float64       `json:"rate"`
	HoldSec       float64       `json:"holdSec"`
	Published     uint64        `json:"published"`
	PublishErrors int           `json:"publishErrors"`
	LatencyMs     Quantiles     `json:"latencyMs"`
	SpreadMs      Quantiles     `json:"fanoutSpreadMs"`
	Server        *ServerReport `json:"server,omitempty"`
	LoadAvg       string        `json:"loadavg"`
}

// ServerReport is the server process's cost, from /proc.
type ServerReport struct {
	Pid             int     `json:"pid"`
	RSSBeforeKiB    int64   `json:"rssBeforeKiB"`
	RSSConnectedKiB int64   `json:"rssConnectedKiB"`
	RSSEndKiB       int64   `json:"rssEndKiB"`
	RSSPerConnKiB   float64 `json:"rssPerConnKiB"`
	RSSTotalPerConn float64 `json:"rssTotalPerConnKiB"`
	CPUSec          float64 `json:"cpuSec"`
	CPUPerEventUs   float64 `json:"cpuPerDeliveredEventUs"`
	CPUConnectSec   float64 `json:"cpuConnectSec"`
	CPUUtilPct      float64 `json:"cpuUtilPct"`
}

func spreads(r Result) Quantiles {
	var h Hist
	for i := range r.First {
		if r.First[i] != 0 {
			h.Record(time.Duration(r.Last[i] - r.First[i]))
		}
	}
	return quantiles(&h)
}

func (rep *Report) print(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %d connections (%d procs, %d source addrs), %.0f events/s for %.0fs\n",
		rep.Scenario, rep.Conns, rep.Procs, rep.Srcs, rep.Rate, rep.HoldSec)
	fmt.Fprintf(w, "  established %d, failed %d %s in %.2fs (connect p50 %.1fms p99 %.1fms max %.1fms)\n",
		rep.Established, rep.Failed, reasons(rep.FailReasons), rep.EstablishSec,
		rep.ConnectMs.P50, rep.ConnectMs.P99, rep.ConnectMs.Max)
	fmt.Fprintf(w, "  dropped during the run %d %s\n", rep.Dropped, reasons(rep.DropReasons))
	fmt.Fprintf(w, "  published %d (%d errors); received %d of %d expected; lost %d (%d conns), duplicated %d (%d conns)\n",
		rep.Published, rep.PublishErrors, rep.Received, rep.Expected, rep.Lost, rep.ConnsWithLoss,
		rep.Dup, rep.ConnsWithDup)
	fmt.Fprintf(w, "  publish→delivery ms: p50 %.1f p90 %.1f p99 %.1f max %.1f\n",
		rep.LatencyMs.P50, rep.LatencyMs.P90, rep.LatencyMs.P99, rep.LatencyMs.Max)
	fmt.Fprintf(w, "  fan-out spread ms:   p50 %.1f p90 %.1f p99 %.1f max %.1f\n",
		rep.SpreadMs.P50, rep.SpreadMs.P90, rep.SpreadMs.P99, rep.SpreadMs.Max)
	if s := rep.Server; s != nil {
		fmt.Fprintf(w, "  server pid %d: RSS %d → %d KiB connected (%.2f KiB/conn added, %.2f KiB/conn total), %d KiB at end\n",
			s.Pid, s.RSSBeforeKiB, s.RSSConnectedKiB, s.RSSPerConnKiB, s.RSSTotalPerConn, s.RSSEndKiB)
		fmt.Fprintf(w, "  server CPU: %.2fs connecting; %.2fs while publishing (%.0f%% of one core), %.2f µs per delivered event\n",
			s.CPUConnectSec, s.CPUSec, s.CPUUtilPct, s.CPUPerEventUs)
	}
	fmt.Fprintf(w, "  load average: %s\n", rep.LoadAvg)
}

func reasons(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	out := "("
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s: %d", k, m[k])
	}
	return out + ")"
}

func (rep *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
