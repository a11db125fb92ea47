// Package chaos checks ssehub's outside contract the Jepsen way: a seeded
// schedule drives real server processes (and a real redis-server) with
// clients of random behaviour, bursty publishers, idempotent retries and
// faults; every client's chain of connections is recorded, and the whole
// history is checked against the contract (the README's "Checking the
// contract") at the end.
//
// This package is the runner that ties the pieces together:
// schedule.Generate turns a seed into decisions; Run carries them out with
// the servers, the clients and the publisher and returns a
// history.History; check.Check is a pure function of that history; report
// prints what the run did and the projection of the history onto each
// violation.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"

	"ssehub/internal/chaos/client"
	"ssehub/internal/chaos/clock"
	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/publisher"
	"ssehub/internal/chaos/resources"
	"ssehub/internal/chaos/schedule"
	"ssehub/internal/chaos/servers"
	"ssehub/internal/chaos/settings"
)

// Config is how to run a schedule.
type Config struct {
	Bin      string    // the ssehub binary
	RedisBin string    // redis-server; found on PATH when empty
	Dir      string    // scratch directory for configs and Redis data
	Log      io.Writer // progress; nil for none
	// Silence overrides Bounds.Silence (default 4 × HeartbeatInterval).
	Silence time.Duration
	// WireDir, if set, keeps the last raw bytes of every connection whose
	// stream was corrupt or malformed (client.Env.WireDir).
	WireDir string
}

// errSetup says the run could not start its processes; it is no verdict
// on the server.
var errSetup = errors.New("chaos setup")

// runner executes one schedule against real processes.
type runner struct {
	s      schedule.Schedule
	cfg    Config
	clock  clock.Clock
	bounds history.Bounds

	instances []*servers.Instance
	redis     *servers.Redis
	res       *resources.Tracker
	pub       *publisher.Publisher
	clients   []*client.Client
	final     chan struct{}

	mu        sync.Mutex
	faults    []history.Fault
	markers   map[string]string
	quiesceAt time.Duration
}

func (r *runner) now() time.Duration { return r.clock.Now() }

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "%7.3fs "+format+"\n", append([]any{r.now().Seconds()}, args...)...)
	}
}

// Run executes s and returns its history; an error means the run could not
// be carried out (a process would not start), not that the server failed.
// Every child process is gone when Run returns.
func Run(ctx context.Context, s schedule.Schedule, cfg Config) (*history.History, error) {
	r := &runner{s: s, cfg: cfg, clock: clock.Start(), bounds: settings.Bounds(cfg.Silence), final: make(chan struct{}), markers: map[string]string{}}
	ctx, cancel := context.WithTimeout(ctx, s.Duration+3*time.Minute)
	defer cancel()
	defer r.stopAll()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	r.pub = publisher.New(r.clock, r.instances)
	env := client.Env{Clock: r.clock, Instances: r.instances, Final: r.final, Bounds: r.bounds, WireDir: r.cfg.WireDir}
	for _, p := range s.Clients {
		r.clients = append(r.clients, client.New(env, p))
	}
	r.logf("seed %d, mode %s: %d clients, %d bursts, %d faults", s.Seed, s.Mode, len(s.Clients), len(s.Bursts), len(s.Faults))

	clientCtx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	clients := r.startClients(clientCtx)
	stopWatching := r.watchOrphans(ctx)
	r.chaos(ctx)
	if err := r.quiesce(ctx); err != nil {
		stopWatching()
		return nil, err
	}
	r.finish(ctx)
	stopClients()
	clients.Wait()
	stopWatching()
	r.pub.CloseIdleConnections()
	r.res.MeasureAfter(ctx, r.instances)
	return r.history(), nil
}

// startClients runs every client until ctx ends or it has its markers.
func (r *runner) startClients(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, c := range r.clients {
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}
	return &wg
}

// watchOrphans samples the instances' orphaned sockets until the returned
// stop is called; stop returns once the sampling has.
func (r *runner) watchOrphans(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.res.WatchOrphans(ctx, r.instances) }()
	return func() {
		cancel()
		<-done
	}
}

// chaos runs the bursts and the faults for the schedule's duration, and
// returns once both are done.
func (r *runner) chaos(ctx context.Context) {
	chaosCtx, stopChaos := context.WithTimeout(ctx, r.s.Duration)
	defer stopChaos()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.runBursts(chaosCtx) }()
	go func() { defer wg.Done(); r.runFaults(chaosCtx, ctx) }()
	<-chaosCtx.Done()
	wg.Wait()
}

// setup starts Redis (in Redis mode) and the instances, each with its
// resource baseline taken before any client may use it.
func (r *runner) setup(ctx context.Context) error {
	pr := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	redisAddr, redisPort := "", 0
	if r.s.Mode == history.ModeRedis {
		if err := r.startRedis(ctx, pr); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		redisAddr, redisPort = r.redis.Addr(), r.redis.Port()
	}
	r.res = resources.NewTracker(r.clock, redisPort, r.bounds)
	for i := range r.s.Instances {
		if err := r.addInstance(ctx, pr, i, redisAddr); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
	}
	return nil
}

// startRedis starts the run's redis-server on a free port drawn from pr,
// its files under the run's directory.
func (r *runner) startRedis(ctx context.Context, pr *rand.Rand) error {
	bin := r.cfg.RedisBin
	if bin == "" {
		var err error
		if bin, err = servers.FindRedis(); err != nil {
			return err
		}
	}
	port, err := servers.FreePort(pr)
	if err != nil {
		return err
	}
	dir := r.cfg.Dir + "/redis"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	r.redis = servers.NewRedis(bin, port, dir)
	return r.redis.Start(ctx, true)
}

// addInstance creates instance idx on a free port drawn from pr, using
// Redis at redisAddr if set, and brings it up.
func (r *runner) addInstance(ctx context.Context, pr *rand.Rand, idx int, redisAddr string) error {
	port, err := servers.FreePort(pr)
	if err != nil {
		return err
	}
	in, err := servers.NewInstance(idx, port, r.cfg.Bin, r.cfg.Dir, settings.YAML(idx, port, r.s.ClientBuffer, redisAddr))
	if err != nil {
		return err
	}
	r.instances = append(r.instances, in)
	return r.bringUp(ctx, in)
}

// bringUp starts in's process, takes its baseline, and opens it to clients.
func (r *runner) bringUp(ctx context.Context, in *servers.Instance) error {
	if err := in.Start(ctx); err != nil {
		return err
	}
	if err := r.res.Baseline(ctx, in); err != nil {
		return err
	}
	in.Open()
	return nil
}

// runBursts starts each burst at its time, with Parallel publishers taking
// every Parallel-th event; bursts may overlap.
func (r *runner) runBursts(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, b := range r.s.Bursts {
		if !clock.Sleep(ctx, b.At-r.now()) {
			return
		}
		for w := range max(1, b.Parallel) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(b.Events) && ctx.Err() == nil; i += max(1, b.Parallel) {
					r.pub.Publish(ctx, b.Instance, b.Events[i])
				}
			}()
		}
	}
}

// runFaults injects the planned faults one after the other until chaos
// ends; a fault under way completes (its restart uses the run's ctx).
func (r *runner) runFaults(chaos, ctx context.Context) {
	for _, f := range r.s.Faults {
		if !clock.Sleep(chaos, f.At-r.now()) {
			return
		}
		r.inject(ctx, f)
	}
}

// inject carries out fault fp and records it.
func (r *runner) inject(ctx context.Context, fp schedule.FaultPlan) {
	f := history.Fault{Kind: fp.Kind, Instance: fp.Instance, At: r.now()}
	var err error
	switch fp.Kind {
	case history.FaultKill, history.FaultTerm:
		err = r.signal(ctx, fp, &f)
	default:
		err = r.redisFault(ctx, fp)
	}
	f.Restarted = r.now()
	if err != nil {
		f.Err = err.Error()
	}
	r.logf("fault %s instance %d: exited %v code %d, back %v %s", f.Kind, f.Instance, f.Exited.Round(time.Millisecond),
		f.ExitCode, f.Restarted.Round(time.Millisecond), f.Err)
	r.mu.Lock()
	r.faults = append(r.faults, f)
	r.mu.Unlock()
}

// signal SIGKILLs or SIGTERMs the instance of fp, recording in f the
// process it hit and how it exited, and restarts it after fp.Down.
func (r *runner) signal(ctx context.Context, fp schedule.FaultPlan, f *history.Fault) error {
	in := r.instances[fp.Instance]
	f.Incarnation = in.Incarnation()
	sig, wait := syscall.SIGKILL, servers.StartWait
	if fp.Kind == history.FaultTerm {
		sig, wait = syscall.SIGTERM, r.bounds.EndAfterTerm
	}
	f.Exited, f.ExitCode = in.Stop(sig, wait, r.clock)
	if fp.Kind == history.FaultKill || f.Exited == 0 {
		// the kernel, not the server, closed these sockets
		r.res.Killed(fp.Instance, history.Interval{From: f.At, To: f.At + fp.Down + 5*time.Second})
	}
	clock.Sleep(context.Background(), fp.Down)
	return r.bringUp(ctx, in)
}

// redisFault carries out a Redis fault of fp, a restart after fp.Down
// included.
func (r *runner) redisFault(ctx context.Context, fp schedule.FaultPlan) error {
	switch fp.Kind {
	case history.FaultRedisKill:
		r.redis.Kill()
		clock.Sleep(context.Background(), fp.Down)
		return r.redis.Start(ctx, true)
	case history.FaultRedisSave:
		return r.redis.Snapshot(ctx)
	case history.FaultRedisReload:
		return r.redis.Restore(ctx, fp.Down)
	case history.FaultFlushAll:
		return r.redis.FlushAll(ctx)
	case history.FaultRedisDown:
		if err := r.redis.Shutdown(ctx); err != nil {
			return err
		}
		clock.Sleep(context.Background(), fp.Down)
		return r.redis.Start(ctx, true)
	}
	return nil
}

// quiesce ends the chaos: every process up and ready, every client reading
// and subscribed, then one marker per topic. Clients that hold an id get
// the marker by resuming; the others are subscribed before it is sent.
func (r *runner) quiesce(ctx context.Context) error {
	if r.redis != nil && r.redis.Exited() {
		if err := r.redis.Start(ctx, true); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
	}
	for _, in := range r.instances {
		if !in.Up() {
			if err := r.bringUp(ctx, in); err != nil {
				return fmt.Errorf("%w: %w", errSetup, err)
			}
		}
		if err := in.WaitReady(ctx, servers.StartWait); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
	}
	r.mu.Lock()
	r.quiesceAt = r.now()
	r.mu.Unlock()
	close(r.final)
	r.logf("quiesce: every process up; waiting for clients to subscribe")
	deadline := time.Now().Add(2 * r.bounds.Silence)
	for time.Now().Before(deadline) && !r.allLive() {
		clock.Sleep(ctx, 50*time.Millisecond)
	}
	for i, t := range r.s.Topics {
		p := schedule.PlannedPublish{Token: schedule.MarkerToken(t), Topic: t, Key: schedule.MarkerToken(t), RetryInstance: i % len(r.instances)}
		for try := 0; try < 5 && !r.pub.Publish(ctx, p.RetryInstance, p); try++ {
			clock.Sleep(ctx, 500*time.Millisecond)
		}
		r.mu.Lock()
		r.markers[t] = p.Token
		r.mu.Unlock()
	}
	r.logf("markers published")
	return nil
}

func (r *runner) allLive() bool {
	for _, c := range r.clients {
		if c.Waiting() {
			return false
		}
	}
	return true
}

// finish gives every client a bounded time to receive its markers; a
// never-reading client has megabytes to drain first.
func (r *runner) finish(ctx context.Context) {
	deadline := time.Now().Add(5*time.Second + 2*r.bounds.Silence)
	for _, c := range r.clients {
		select {
		case <-c.MarkersSeen():
		case <-c.GaveUp():
		case <-ctx.Done():
			return
		case <-time.After(time.Until(deadline)):
			r.logf("final wait over: some clients miss markers")
			return
		}
	}
	r.logf("every client has its markers")
}

// stopAll ends every child process.
func (r *runner) stopAll() {
	for _, in := range r.instances {
		in.Kill()
	}
	if r.redis != nil {
		r.redis.Kill()
		_ = r.redis.Close()
	}
}

func (r *runner) history() *history.History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &history.History{Seed: r.s.Seed, Mode: r.s.Mode, Bounds: r.bounds, Publishes: r.pub.Attempts(),
		Faults: r.faults, Markers: r.markers, QuiesceAt: r.quiesceAt, Resources: r.res.Results()}
	for _, c := range r.clients {
		h.Chains = append(h.Chains, c.Chain())
	}
	return h
}
