package benchreport

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"time"
)

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

// Fill sets the delivery figures from the merged result of every process;
// published and pubErrors are the publisher's tallies.
func (rep *Report) Fill(r Result, published uint64, pubErrors int) {
	rep.Counts = r.Counts
	var connect, latency Hist
	connect.Merge(r.Connect)
	latency.Merge(r.Latency)
	rep.ConnectMs, rep.LatencyMs, rep.SpreadMs = quantiles(&connect), quantiles(&latency), spreads(r)
	rep.Published, rep.PublishErrors = published, pubErrors
}

// spreads summarises, per event, the time from its first delivery to its last.
func spreads(r Result) Quantiles {
	var h Hist
	for i := range r.First {
		if r.First[i] != 0 {
			h.Record(time.Duration(r.Last[i] - r.First[i]))
		}
	}
	return quantiles(&h)
}

// Print writes the report as text, the form the README quotes.
func (rep *Report) Print(w io.Writer) {
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

// WriteJSON writes the report as indented JSON, the form -table reads back.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
