// Command ssechaos runs a seeded, randomized chaos run against real ssehub
// processes (in memory mode, and in Redis mode with two instances on a real
// redis-server) and checks the recorded history against the contract. It
// prints the seed first and, on a violation, the seed and the part of the
// history that shows it, and exits 1. See internal/chaos and the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ssehub/internal/chaos"
	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/report"
	"ssehub/internal/chaos/schedule"
	"ssehub/internal/chaos/violation"
)

// flags are the command line.
type flags struct {
	seed                                    uint64
	duration, silence                       time.Duration
	mode, bin, only                         string
	clients                                 int
	faults, lossless, verbose, shrink, keep bool
}

// parseFlags reads the command line; a seed of 0 becomes a random one.
func parseFlags() flags {
	var f flags
	flag.Uint64Var(&f.seed, "seed", 0, "the run's seed (0 = pick one and print it)")
	flag.DurationVar(&f.duration, "duration", time.Minute, "length of the chaos phase of each mode")
	flag.StringVar(&f.mode, "mode", "both", "memory, redis or both")
	flag.IntVar(&f.clients, "clients", 100, "clients per mode")
	flag.StringVar(&f.bin, "bin", "bin/ssehub", "the ssehub binary (make build)")
	flag.BoolVar(&f.faults, "faults", true, "inject faults")
	flag.BoolVar(&f.lossless, "lossless", false, "leave out the Redis faults that lose acknowledged events (snapshot restore, FLUSHALL)")
	flag.BoolVar(&f.verbose, "v", false, "log the run's progress")
	flag.DurationVar(&f.silence, "silence", 0, "longest a reading client may wait for a byte (0 = 4 heartbeats)")
	flag.StringVar(&f.only, "only", "", "run only these clients (comma-separated ids) of the -clients planned")
	flag.BoolVar(&f.shrink, "shrink", false, "on a violation, rerun each kind's first one with only its client, cut after it")
	flag.BoolVar(&f.keep, "keep", false, "keep each mode's run directory (configs, every process's whole output, and under wire/ the last raw bytes of each connection whose stream was corrupt or malformed) and print where")
	flag.Parse()
	if f.seed == 0 {
		f.seed = rand.Uint64() >> 1
	}
	return f
}

func main() {
	f := parseFlags()
	modes := []string{f.mode}
	if f.mode == "both" {
		modes = []string{history.ModeMemory, history.ModeRedis}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("ssechaos: seed %d, %v per mode, %d clients, modes %v\n", f.seed, f.duration, f.clients, modes)
	failed := false
	for _, m := range modes {
		failed = runMode(ctx, f, m) || failed
		if errors.Is(ctx.Err(), context.Canceled) {
			break
		}
	}
	if failed {
		fmt.Printf("ssechaos: FAILED, seed %d (rerun: ssechaos -seed %d -duration %v -clients %d -mode %s)\n",
			f.seed, f.seed, f.duration, f.clients, f.mode)
		os.Exit(1)
	}
	fmt.Printf("ssechaos: ok, seed %d\n", f.seed)
}

// runMode runs and checks mode m in a directory of its own, reports it (and
// shrinks its violations if asked), and reports whether it failed.
func runMode(ctx context.Context, f flags, m string) bool {
	if m != history.ModeMemory && m != history.ModeRedis {
		fatal(fmt.Errorf("unknown -mode %q", m))
	}
	dir, err := os.MkdirTemp("", "ssechaos-")
	if err != nil {
		fatal(err)
	}
	cfg := chaos.Config{Bin: f.bin, Dir: dir, Silence: f.silence}
	if f.keep {
		cfg.WireDir = filepath.Join(dir, "wire")
	}
	if f.verbose {
		cfg.Log = os.Stdout
	}
	o := schedule.Options{Seed: f.seed, Mode: m, Duration: f.duration, Clients: f.clients, ClientBuffer: 64, Faults: f.faults, Lossless: f.lossless,
		Only: parseIDs(f.only)}
	res, err := chaos.RunChecked(ctx, o, cfg)
	if err != nil {
		fatal(err)
	}
	report.Write(os.Stdout, res.History, res.Violations)
	if f.shrink {
		shrinkAll(ctx, o, cfg, res)
	}
	if f.keep {
		fmt.Printf("ssechaos: mode %s kept in %s\n", m, dir)
	} else {
		_ = os.RemoveAll(dir)
	}
	return len(res.Violations) > 0
}

// shrinkAll reruns, for each violation kind, its first violation with a
// client alone, cut a few seconds after it, and reports whether it shows
// again (a smaller history) or needs the other clients.
func shrinkAll(ctx context.Context, o schedule.Options, cfg chaos.Config, res chaos.Result) {
	tried := map[violation.Kind]bool{}
	for _, v := range res.Violations {
		small := chaos.Shrunk(o, v)
		if tried[v.Kind] || small == nil || ctx.Err() != nil {
			continue
		}
		tried[v.Kind] = true
		fmt.Printf("ssechaos: shrinking %s: seed %d, only client %d, %v\n", v.Kind, o.Seed, v.Client, small.Duration)
		sres, err := chaos.RunChecked(ctx, *small, cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ssechaos: shrink:", err)
			continue
		}
		if !sres.Reproduces(v.Kind) {
			fmt.Printf("ssechaos: %s does not show with client %d alone: it needs the others\n", v.Kind, v.Client)
			continue
		}
		fmt.Printf("ssechaos: %s shows with client %d alone (rerun: ssechaos -seed %d -mode %s -clients %d -only %d -duration %v):\n",
			v.Kind, v.Client, o.Seed, o.Mode, o.Clients, v.Client, small.Duration)
		for _, sv := range sres.Violations {
			if sv.Kind == v.Kind {
				fmt.Println(report.Explain(sres.History, sv))
				break
			}
		}
	}
}

func parseIDs(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			fatal(fmt.Errorf("-only %q: %w", s, err))
		}
		out = append(out, n)
	}
	return out
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ssechaos:", err)
	os.Exit(2)
}
