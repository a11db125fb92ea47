// Package loadgen runs ssehub's load benchmark: it spreads many SSE streams
// over this process and, past the descriptor limit, child processes,
// publishes numbered, timestamped events at a given rate, and merges what
// the streams received and what the server spent into one report.
package loadgen

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"ssehub/internal/benchreport"
	"ssehub/internal/loadconns"
	"ssehub/internal/procstat"
)

// Options are one run's settings, ssebench's flags.
type Options struct {
	URL         string
	Topic       string
	Conns       int
	Rate        float64
	Hold        time.Duration
	Grace       time.Duration
	Procs       int
	Srcs        int
	Concurrency int
	DialTimeout time.Duration
	Pid         int
	Scenario    string
}

// layout is how a run spreads its connections, and whom it measures.
type layout struct {
	u      *url.URL
	procs  int
	srcs   int
	maxSeq int
	pid    int // the server's, 0 when unknown
}

// serverSamples are the server's figures before the run, once the streams
// are open and at the end; ok says the first one could be read.
type serverSamples struct {
	before, connected, end procstat.Sample
	ok                     bool
}

// Run opens the streams, publishes for o.Hold, waits up to o.Grace for the
// last events and reports.
func Run(o Options) (*benchreport.Report, error) {
	lay, err := newLayout(o)
	if err != nil {
		return nil, err
	}
	rep := &benchreport.Report{Scenario: o.Scenario, Start: time.Now().UTC(), Procs: lay.procs, Srcs: lay.srcs,
		Rate: o.Rate, HoldSec: o.Hold.Seconds()}
	var srv serverSamples
	srv.before, srv.ok = sample(lay.pid)
	if err := drive(o, lay, rep, &srv); err != nil {
		return nil, err
	}
	if srv.ok {
		rep.Server = serverReport(lay.pid, srv, rep)
	}
	rep.LoadAvg = loadAvg()
	return rep, nil
}

// newLayout splits o.Conns into processes that each stay within the
// descriptor limit, and source addresses that each stay within the
// ephemeral ports; without o.Pid it finds the server by its port.
func newLayout(o Options) (layout, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return layout{}, fmt.Errorf("bad -url: %w", err)
	}
	port, _ := strconv.Atoi(u.Port())
	limit := raiseFileLimit()
	lay := layout{u: u, procs: o.Procs, srcs: o.Srcs, maxSeq: int(o.Rate*o.Hold.Seconds()) + 16, pid: o.Pid}
	if lay.procs <= 0 {
		perProc := max(limit-200, 1)
		lay.procs = (o.Conns + perProc - 1) / perProc
	}
	if lay.srcs <= 0 {
		lay.srcs = max((o.Conns+7999)/8000, 1)
	}
	if lay.pid == 0 {
		if lay.pid, err = procstat.FindListener(port); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench: no server figures:", err)
		}
	}
	return lay, nil
}

// drive runs the three phases (open, publish, drain) over the workers,
// samples the server after the first and the last, and fills rep with what
// the workers saw.
func drive(o Options, lay layout, rep *benchreport.Report, srv *serverSamples) error {
	workers, err := startWorkers(o, lay)
	if err != nil {
		return err
	}
	if err := each(workers, func(w worker) error { return w.open() }); err != nil {
		return err
	}
	srv.connected, _ = sample(lay.pid)

	published, pubErrors := publish(o, lay.u)
	if err := each(workers, func(w worker) error { return w.drain(published) }); err != nil {
		return err
	}
	srv.end, _ = sample(lay.pid)

	total, err := finish(workers, published)
	if err != nil {
		return err
	}
	rep.Fill(total, published, pubErrors)
	return nil
}

func sample(pid int) (procstat.Sample, bool) {
	if pid == 0 {
		return procstat.Sample{}, false
	}
	s, err := procstat.Read(pid)
	return s, err == nil
}

// startWorkers gives each process its share: this process's own loader
// when there is one, else a child each.
func startWorkers(o Options, lay layout) ([]worker, error) {
	path := "/sse?topic=" + url.QueryEscape(o.Topic)
	var workers []worker
	for p := range lay.procs {
		n := o.Conns / lay.procs
		if p < o.Conns%lay.procs {
			n++
		}
		cfg := loadconns.Config{Addr: lay.u.Host, Path: path, N: n, Srcs: lay.srcs, SrcOffset: p,
			Concurrency: o.Concurrency, DialTimeout: o.DialTimeout, MaxSeq: lay.maxSeq}
		if lay.procs == 1 {
			workers = append(workers, &localWorker{l: loadconns.New(cfg), grace: o.Grace})
			continue
		}
		w, err := startChild(cfg, o.Grace)
		if err != nil {
			return nil, err
		}
		workers = append(workers, w)
	}
	return workers, nil
}

// each runs f on every worker at once and returns the first error.
func each(workers []worker, f func(worker) error) error {
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() { errs[i] = f(w) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// finish closes every worker's connections and merges their results.
func finish(workers []worker, published uint64) (benchreport.Result, error) {
	var total benchreport.Result
	for _, w := range workers {
		r, err := w.finish(published)
		if err != nil {
			return benchreport.Result{}, err
		}
		total.Merge(r)
	}
	return total, nil
}

func serverReport(pid int, srv serverSamples, rep *benchreport.Report) *benchreport.ServerReport {
	before, connected, end := srv.before, srv.connected, srv.end
	s := &benchreport.ServerReport{Pid: pid, RSSBeforeKiB: before.RSSKiB, RSSConnectedKiB: connected.RSSKiB,
		RSSEndKiB: end.RSSKiB, CPUConnectSec: (connected.CPU - before.CPU).Seconds(), CPUSec: (end.CPU - connected.CPU).Seconds()}
	if rep.Established > 0 {
		s.RSSPerConnKiB = float64(connected.RSSKiB-before.RSSKiB) / float64(rep.Established)
		s.RSSTotalPerConn = float64(connected.RSSKiB) / float64(rep.Established)
	}
	if rep.Received > 0 {
		s.CPUPerEventUs = s.CPUSec * 1e6 / float64(rep.Received)
	}
	if wall := end.At.Sub(connected.At).Seconds(); wall > 0 {
		s.CPUUtilPct = 100 * s.CPUSec / wall
	}
	return s
}

// loadAvg is this machine's /proc/loadavg line, "" when it cannot be read.
func loadAvg() string {
	load, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(load))
}
