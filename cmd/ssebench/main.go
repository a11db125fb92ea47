// Command ssebench is ssehub's load generator: it opens many SSE streams to a
// server on this machine, publishes numbered, timestamped events at a given
// rate, and reports delivery (lost, duplicated, latency, fan-out spread) and
// the server's memory and CPU cost read from /proc. The work is in
// internal/loadgen; this is its flags and output.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"ssehub/internal/benchreport"
	"ssehub/internal/loadgen"
)

// options are the parsed flags: a run's settings, and what to do.
type options struct {
	run   loadgen.Options
	json  bool
	child string // a child process's spec (loadgen re-executes this binary)
	table string
}

func main() {
	o := parseFlags()
	if o.table != "" {
		exitOn("ssebench:", benchreport.PrintTable(os.Stdout, o.table))
		return
	}
	// The tool shares the machine with the server; collect garbage less often.
	debug.SetGCPercent(400)
	if o.child != "" {
		exitOn("ssebench child:", loadgen.RunChild(o.child, o.run.Grace))
		return
	}
	exitOn("ssebench:", runAndPrint(o))
}

func parseFlags() options {
	var o options
	r := &o.run
	flag.StringVar(&r.URL, "url", "http://127.0.0.1:8080", "server base URL (loopback)")
	flag.StringVar(&r.Topic, "topic", "bench", "topic to subscribe and publish to")
	flag.IntVar(&r.Conns, "n", 1000, "concurrent SSE connections")
	flag.Float64Var(&r.Rate, "rate", 1, "events published per second (0: none)")
	flag.DurationVar(&r.Hold, "hold", 15*time.Second, "how long to hold the connections and publish")
	flag.DurationVar(&r.Grace, "grace", 5*time.Second, "how long to wait for the last events after publishing")
	flag.IntVar(&r.Procs, "procs", 0, "client processes (0: enough for the descriptor limit)")
	flag.IntVar(&r.Srcs, "srcs", 0, "source addresses 127.0.0.1..127.0.0.k (0: one per 8,000 connections)")
	flag.IntVar(&r.Concurrency, "c", 256, "connections being opened at once, per process")
	flag.DurationVar(&r.DialTimeout, "dial-timeout", 10*time.Second, "bound on opening one stream")
	flag.IntVar(&r.Pid, "pid", 0, "server pid for /proc figures (0: the listener of -url's port)")
	flag.BoolVar(&o.json, "json", false, "print the report as JSON")
	flag.StringVar(&r.Scenario, "scenario", "", "a name for the report")
	flag.StringVar(&o.child, "child", "", "internal: run as a child process with this spec")
	flag.StringVar(&o.table, "table", "", "print the JSON array of reports in this file as a Markdown table, and exit")
	flag.Parse()
	return o
}

// runAndPrint runs the benchmark and prints its report as text or JSON.
func runAndPrint(o options) error {
	rep, err := loadgen.Run(o.run)
	if err != nil {
		return err
	}
	if o.json {
		return rep.WriteJSON(os.Stdout)
	}
	rep.Print(os.Stdout)
	return nil
}

// exitOn ends the process with status 1 when err is set, after printing it
// with prefix on stderr.
func exitOn(prefix string, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, prefix, err)
		os.Exit(1)
	}
}
