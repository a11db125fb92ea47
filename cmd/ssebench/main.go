// Command ssebench is ssehub's load generator: it opens many SSE streams to a
// server on this machine, publishes numbered, timestamped events at a given
// rate, and reports delivery (lost, duplicated, latency, fan-out spread) and
// the server's memory and CPU cost read from /proc.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	url         string
	topic       string
	conns       int
	rate        float64
	hold        time.Duration
	grace       time.Duration
	procs       int
	srcs        int
	concurrency int
	dialTimeout time.Duration
	pid         int
	json        bool
	scenario    string
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "server base URL (loopback)")
	flag.StringVar(&o.topic, "topic", "bench", "topic to subscribe and publish to")
	flag.IntVar(&o.conns, "n", 1000, "concurrent SSE connections")
	flag.Float64Var(&o.rate, "rate", 1, "events published per second (0: none)")
	flag.DurationVar(&o.hold, "hold", 15*time.Second, "how long to hold the connections and publish")
	flag.DurationVar(&o.grace, "grace", 5*time.Second, "how long to wait for the last events after publishing")
	flag.IntVar(&o.procs, "procs", 0, "client processes (0: enough for the descriptor limit)")
	flag.IntVar(&o.srcs, "srcs", 0, "source addresses 127.0.0.1..127.0.0.k (0: one per 8,000 connections)")
	flag.IntVar(&o.concurrency, "c", 256, "connections being opened at once, per process")
	flag.DurationVar(&o.dialTimeout, "dial-timeout", 10*time.Second, "bound on opening one stream")
	flag.IntVar(&o.pid, "pid", 0, "server pid for /proc figures (0: the listener of -url's port)")
	flag.BoolVar(&o.json, "json", false, "print the report as JSON")
	flag.StringVar(&o.scenario, "scenario", "", "a name for the report")
	child := flag.String("child", "", "internal: run as a child process with this spec")
	table := flag.String("table", "", "print the JSON array of reports in this file as a Markdown table, and exit")
	flag.Parse()

	if *table != "" {
		if err := printTable(os.Stdout, *table); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench:", err)
			os.Exit(1)
		}
		return
	}

	// The tool shares the machine with the server; collect garbage less often.
	debug.SetGCPercent(400)
	if *child != "" {
		if err := runChild(*child, o.grace); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench child:", err)
			os.Exit(1)
		}
		return
	}
	rep, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssebench:", err)
		os.Exit(1)
	}
	if o.json {
		err = rep.writeJSON(os.Stdout)
	} else {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssebench:", err)
		os.Exit(1)
	}
}

// raiseFileLimit lifts the soft descriptor limit to the hard one and
// returns it.
func raiseFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	return int(lim.Cur)
}

func run(o options) (*Report, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, fmt.Errorf("bad -url: %w", err)
	}
	port, _ := strconv.Atoi(u.Port())
	limit := raiseFileLimit()
	procs := o.procs
	if procs <= 0 {
		perProc := max(limit-200, 1)
		procs = (o.conns + perProc - 1) / perProc
	}
	srcs := o.srcs
	if srcs <= 0 {
		srcs = max((o.conns+7999)/8000, 1)
	}
	maxSeq := int(o.rate*o.hold.Seconds()) + 16
	pid := o.pid
	if pid == 0 {
		if pid, err = findListener(port); err != nil {
			fmt.Fprintln(os.Stderr, "ssebench: no server figures:", err)
		}
	}

	rep := &Report{Scenario: o.scenario, Start: time.Now().UTC(), Procs: procs, Srcs: srcs,
		Rate: o.rate, HoldSec: o.hold.Seconds()}
	before, haveProc := sample(pid)

	workers, err := startWorkers(o, u, procs, srcs, maxSeq)
	if err != nil {
		return nil, err
	}
	if err := each(workers, func(w worker) error { return w.open() }); err != nil {
		return nil, err
	}
	connected, _ := sample(pid)

	published, pubErrors := publish(o, u)
	if err := each(workers, func(w worker) error { return w.drain(published) }); err != nil {
		return nil, err
	}
	end, _ := sample(pid)

	var total Result
	for _, w := range workers {
		r, err := w.finish(published)
		if err != nil {
			return nil, err
		}
		total.merge(r)
	}
	rep.fill(total, published, pubErrors)
	if haveProc {
		rep.Server = serverReport(pid, before, connected, end, rep)
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.LoadAvg = strings.TrimSpace(string(load))
	}
	return rep, nil
}

func sample(pid int) (procSample, bool) {
	if pid == 0 {
		return procSample{}, false
	}
	s, err := sampleProc(pid)
	return s, err == nil
}

func startWorkers(o options, u *url.URL, procs, srcs, maxSeq int) ([]worker, error) {
	path := "/sse?topic=" + url.QueryEscape(o.topic)
	var workers []worker
	for p := range procs {
		n := o.conns / procs
		if p < o.conns%procs {
			n++
		}
		cfg := loaderConfig{Addr: u.Host, Path: path, N: n, Srcs: srcs, SrcOffset: p,
			Concurrency: o.concurrency, DialTimeout: o.dialTimeout, MaxSeq: maxSeq}
		if procs == 1 {
			workers = append(workers, &localWorker{l: newLoader(cfg), grace: o.grace})
			continue
		}
		w, err := startChild(cfg, o.grace)
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

// publish posts numbered, timestamped events at o.rate for o.hold, one at a
// time so that ids follow seq; it returns how many the server accepted, or
// just waits out the hold when the rate is 0.
func publish(o options, u *url.URL) (uint64, int) {
	ctx, cancel := context.WithTimeout(context.Background(), o.hold)
	defer cancel()
	if o.rate <= 0 {
		<-ctx.Done()
		return 0, 0
	}
	client := &http.Client{Timeout: 5 * time.Second}
	endpoint := u.Scheme + "://" + u.Host + "/publish"
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer tick.Stop()
	var seq uint64
	errs := 0
	for {
		select {
		case <-ctx.Done():
			return seq, errs
		case <-tick.C:
		}
		body := fmt.Sprintf(`{"topic":%q,"event":"bench","data":{"seq":%d,"ts":%d}}`,
			o.topic, seq+1, time.Now().UnixNano())
		if postOK(client, endpoint, body) {
			seq++
		} else {
			errs++
		}
	}
}

func postOK(client *http.Client, endpoint, body string) bool {
	resp, err := client.Post(endpoint, "application/json", bytes.NewBufferString(body))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

func (rep *Report) fill(r Result, published uint64, pubErrors int) {
	rep.Counts = r.Counts
	var connect, latency Hist
	connect.Merge(r.Connect)
	latency.Merge(r.Latency)
	rep.ConnectMs, rep.LatencyMs, rep.SpreadMs = quantiles(&connect), quantiles(&latency), spreads(r)
	rep.Published, rep.PublishErrors = published, pubErrors
}

func serverReport(pid int, before, connected, end procSample, rep *Report) *ServerReport {
	s := &ServerReport{Pid: pid, RSSBeforeKiB: before.RSSKiB, RSSConnectedKiB: connected.RSSKiB, RSSEndKiB: end.RSSKiB,
		CPUConnectSec: (connected.CPU - before.CPU).Seconds(), CPUSec: (end.CPU - connected.CPU).Seconds()}
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
