package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The server settings of a run. A short heartbeat and write timeout make
// the time rules checkable in seconds: a stream is never silent for more
// than Bounds.Silence, a stalled client is cut after WriteTimeout.
const (
	heartbeat    = time.Second
	writeTimeout = 2 * time.Second
	shutdownWait = 3 * time.Second
	replaySize   = 10000
	replayAge    = 5 * time.Minute
	// orphanQueue is how much a socket the server closed may keep while
	// nobody reads it: a bounded send buffer (a stream cut for not reading
	// is reset and keeps nothing); Linux's autotuned buffer, up to 4 MiB,
	// is not a bound.
	orphanQueue = 256 << 10
)

// Config is how to run a schedule.
type Config struct {
	Bin      string    // the ssehub binary
	RedisBin string    // redis-server; found on PATH when empty
	Dir      string    // scratch directory for configs and Redis data
	Log      io.Writer // progress; nil for none
	// Silence overrides Bounds.Silence (default 4 × HeartbeatInterval).
	Silence time.Duration
}

// errSetup says the run could not start its processes; it is no verdict
// on the server.
var errSetup = errors.New("chaos setup")

// runner executes one schedule against real processes.
type runner struct {
	s      Schedule
	cfg    Config
	start  time.Time
	bounds Bounds

	instances []*instance
	redis     *redisServer
	pub       *publisher
	clients   []*client
	final     chan struct{}

	mu        sync.Mutex
	faults    []Fault
	resources map[int]*Resources // by instance: the current process's baseline
	retired   []Resources        // earlier processes, for their orphans only
	killed    map[int][]Interval // by instance: when a SIGKILL left sockets to the kernel
	markers   map[string]string
	quiesceAt time.Duration
}

func (r *runner) now() time.Duration { return time.Since(r.start) }

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "%7.3fs "+format+"\n", append([]any{r.now().Seconds()}, args...)...)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Run executes s and returns its history; an error means the run could not
// be carried out (a process would not start), not that the server failed.
// Every child process is gone when Run returns.
func Run(ctx context.Context, s Schedule, cfg Config) (*History, error) {
	r := &runner{s: s, cfg: cfg, start: time.Now(), final: make(chan struct{}),
		resources: map[int]*Resources{}, killed: map[int][]Interval{}, markers: map[string]string{}}
	r.bounds = Bounds{Silence: 4 * heartbeat, EndAfterKill: 3 * time.Second, EndAfterTerm: shutdownWait + time.Second,
		StalledCut: writeTimeout + 3*time.Second, ReplaySize: replaySize, ReplayAge: replayAge, FDSlack: 4, GoroutineSlack: 8, QueueSlack: 64 << 10, OrphanQueue: orphanQueue}
	if cfg.Silence > 0 {
		r.bounds.Silence = cfg.Silence
	}
	ctx, cancel := context.WithTimeout(ctx, s.Duration+3*time.Minute)
	defer cancel()
	defer r.stopAll()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	r.pub = newPublisher(r)
	for _, p := range s.Clients {
		r.clients = append(r.clients, newClient(r, p))
	}
	r.logf("seed %d, mode %s: %d clients, %d bursts, %d faults", s.Seed, s.Mode, len(s.Clients), len(s.Bursts), len(s.Faults))

	clientCtx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	var clients sync.WaitGroup
	for _, c := range r.clients {
		clients.Add(1)
		go func() { defer clients.Done(); c.run(clientCtx) }()
	}
	samplerCtx, stopSampler := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); r.sampleOrphans(samplerCtx) }()

	chaosCtx, stopChaos := context.WithTimeout(ctx, s.Duration)
	var chaos sync.WaitGroup
	chaos.Add(2)
	go func() { defer chaos.Done(); r.runBursts(chaosCtx) }()
	go func() { defer chaos.Done(); r.runFaults(chaosCtx, ctx) }()
	<-chaosCtx.Done()
	chaos.Wait()
	stopChaos()

	if err := r.quiesce(ctx); err != nil {
		stopSampler()
		<-sampled
		return nil, err
	}
	r.finish(ctx)
	stopClients()
	clients.Wait()
	stopSampler()
	<-sampled
	r.pub.cli.CloseIdleConnections()
	r.measureAfter(ctx)
	return r.history(), nil
}

// setup starts Redis (in Redis mode) and the instances, each with its
// resource baseline taken before any client may use it.
func (r *runner) setup(ctx context.Context) error {
	pr := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	redisAddr := ""
	if r.s.Mode == ModeRedis {
		bin := r.cfg.RedisBin
		if bin == "" {
			var err error
			if bin, err = findRedis(); err != nil {
				return fmt.Errorf("%w: %w", errSetup, err)
			}
		}
		port, err := freePort(pr)
		if err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		dir := r.cfg.Dir + "/redis"
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		r.redis = newRedis(bin, port, dir)
		if err := r.redis.start(ctx, true); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		redisAddr = r.redis.addr()
	}
	for i := range r.s.Instances {
		port, err := freePort(pr)
		if err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		in, err := newInstance(i, port, r.cfg.Bin, r.cfg.Dir, serverYAML(i, port, r.s.ClientBuffer, redisAddr))
		if err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		r.instances = append(r.instances, in)
		if err := r.bringUp(ctx, in); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
	}
	return nil
}

// serverYAML is the config of instance idx: short heartbeat and write
// timeout, no per-address limits (every client is 127.0.0.1), open
// publishing, and Redis when addr is set.
func serverYAML(idx, port, buffer int, redisAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name: chaos-%d\nHost: 127.0.0.1\nPort: %d\n", idx, port)
	b.WriteString("Log:\n  Mode: console\n  Encoding: plain\n  Level: error\n  Stat: false\n")
	fmt.Fprintf(&b, "Shutdown:\n  WrapUpTime: 100ms\n  WaitTime: %s\n", shutdownWait)
	fmt.Fprintf(&b, "Sse:\n  PublishOpen: true\n  PublishRate: 0\n  MaxClientsPerIP: 0\n  TickInterval: 1s\n"+
		"  HeartbeatInterval: %s\n  WriteTimeout: %s\n  ClientBuffer: %d\n  Replay:\n    Size: %d\n    MaxAge: %s\n",
		heartbeat, writeTimeout, buffer, replaySize, replayAge)
	if redisAddr != "" {
		fmt.Fprintf(&b, "Redis:\n  Addr: %s\n  KeyPrefix: chaos\n", redisAddr)
	}
	return b.String()
}

// bringUp starts in's process, takes its baseline, and opens it to clients.
func (r *runner) bringUp(ctx context.Context, in *instance) error {
	if err := in.start(ctx); err != nil {
		return err
	}
	redisPort := 0
	if r.redis != nil {
		redisPort = r.redis.port
	}
	before, err := sampleInstance(ctx, in, redisPort)
	if err != nil {
		return fmt.Errorf("baseline of instance %d: %w", in.idx, err)
	}
	before.At = r.now()
	r.mu.Lock()
	if old := r.resources[in.idx]; old != nil && old.MaxOrphan > 0 {
		r.retired = append(r.retired, *old) // its orphans still count
	}
	r.resources[in.idx] = &Resources{Instance: in.idx, Incarnation: int(in.inc.Load()), Before: before}
	r.mu.Unlock()
	in.up.Store(true)
	return nil
}

// runBursts starts each burst at its time, with Parallel publishers taking
// every Parallel-th event; bursts may overlap.
func (r *runner) runBursts(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, b := range r.s.Bursts {
		if !sleepCtx(ctx, b.At-r.now()) {
			return
		}
		for w := range max(1, b.Parallel) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(b.Events) && ctx.Err() == nil; i += max(1, b.Parallel) {
					r.pub.publish(ctx, b.Instance, b.Events[i])
				}
			}()
		}
	}
}

// runFaults injects the planned faults one after the other until chaos
// ends; a fault under way completes (its restart uses the run's ctx).
func (r *runner) runFaults(chaos, ctx context.Context) {
	for _, f := range r.s.Faults {
		if !sleepCtx(chaos, f.At-r.now()) {
			return
		}
		r.inject(ctx, f)
	}
}

func (r *runner) inject(ctx context.Context, fp FaultPlan) {
	f := Fault{Kind: fp.Kind, Instance: fp.Instance, At: r.now()}
	var err error
	switch fp.Kind {
	case FaultKill, FaultTerm:
		in := r.instances[fp.Instance]
		f.Incarnation = int(in.inc.Load())
		sig, wait := syscall.SIGKILL, startWait
		if fp.Kind == FaultTerm {
			sig, wait = syscall.SIGTERM, r.bounds.EndAfterTerm
		}
		exited, code := in.stop(sig, wait, r.start)
		f.Exited, f.ExitCode = exited, code
		if fp.Kind == FaultKill || exited == 0 {
			// the kernel, not the server, closed these sockets
			r.mu.Lock()
			r.killed[fp.Instance] = append(r.killed[fp.Instance], Interval{From: f.At, To: f.At + fp.Down + 5*time.Second})
			r.mu.Unlock()
		}
		sleepCtx(context.Background(), fp.Down)
		err = r.bringUp(ctx, in)
	case FaultRedisKill:
		r.redis.kill()
		sleepCtx(context.Background(), fp.Down)
		err = r.redis.start(ctx, true)
	case FaultRedisSave:
		err = r.redis.snapshot(ctx)
	case FaultRedisReload:
		err = r.redis.restore(ctx, fp.Down)
	case FaultFlushAll:
		err = r.redis.cli.FlushAll(ctx).Err()
	case FaultRedisDown:
		if err = r.redis.shutdown(ctx); err == nil {
			sleepCtx(context.Background(), fp.Down)
			err = r.redis.start(ctx, true)
		}
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

// quiesce ends the chaos: every process up and ready, every client reading
// and subscribed, then one marker per topic. Clients that hold an id get
// the marker by resuming; the others are subscribed before it is sent.
func (r *runner) quiesce(ctx context.Context) error {
	if r.redis != nil && r.redis.proc.exited() {
		if err := r.redis.start(ctx, true); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
	}
	for _, in := range r.instances {
		if !in.up.Load() {
			if err := r.bringUp(ctx, in); err != nil {
				return fmt.Errorf("%w: %w", errSetup, err)
			}
		}
		if err := in.waitReady(ctx, startWait); err != nil {
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
		sleepCtx(ctx, 50*time.Millisecond)
	}
	for i, t := range r.s.Topics {
		p := PlannedPublish{Token: MarkerToken(t), Topic: t, Key: MarkerToken(t), RetryInstance: i % len(r.instances)}
		for try := 0; try < 5 && !r.pub.publish(ctx, p.RetryInstance, p); try++ {
			sleepCtx(ctx, 500*time.Millisecond)
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
		if !c.live.Load() && !isClosed(c.markersSeen) && !isClosed(c.gaveUp) {
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
		case <-c.markersSeen:
		case <-c.gaveUp:
		case <-ctx.Done():
			return
		case <-time.After(time.Until(deadline)):
			r.logf("final wait over: some clients miss markers")
			return
		}
	}
	r.logf("every client has its markers")
}

// measureAfter waits (bounded) for each instance's resources to return to
// their baseline, then records them: the check compares both.
func (r *runner) measureAfter(ctx context.Context) {
	redisPort := 0
	if r.redis != nil {
		redisPort = r.redis.port
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, in := range r.instances {
		r.mu.Lock()
		res := r.resources[in.idx]
		r.mu.Unlock()
		for {
			after, err := sampleInstance(ctx, in, redisPort)
			after.At = r.now()
			if err == nil {
				res.After = after
			}
			if err == nil && withinBaseline(res.Before, after, r.bounds) || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
}

func withinBaseline(before, after Sample, b Bounds) bool {
	return after.FDs <= before.FDs+b.FDSlack && after.Goroutines <= before.Goroutines+b.GoroutineSlack &&
		after.Sockets <= before.Sockets+2 && after.Queued <= before.Queued+b.QueueSlack
}

// sampleOrphans watches, twice a second, the sockets each instance has
// closed but the kernel still holds data for. One that holds as much or
// more in the next sample counts: nobody reads it and the server did not
// reset it (a socket being reset is gone by then, one a client drains
// shrinks). Right after a SIGKILL the kernel closed everything: excused.
func (r *runner) sampleOrphans(ctx context.Context) {
	type seen struct {
		bytes int64
		inc   int // the process that had the socket when it was first seen
	}
	prev := map[int]map[orphanKey]seen{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		socks, err := readTCP()
		if err != nil {
			continue
		}
		now := r.now()
		for _, in := range r.instances {
			cur := map[orphanKey]seen{}
			inc := int(in.inc.Load())
			r.mu.Lock()
			excused := false
			for _, k := range r.killed[in.idx] {
				excused = excused || (now >= k.From && now <= k.To)
			}
			res := r.resources[in.idx]
			for k, q := range orphans(socks, in.port) {
				p, ok := prev[in.idx][k]
				if !ok {
					p = seen{bytes: q, inc: inc}
				}
				cur[k] = seen{bytes: q, inc: p.inc}
				// draining means a client is reading it: memory in use, not pinned
				if ok && q >= p.bytes && !excused && p.inc == res.Incarnation && q > res.MaxOrphan {
					res.MaxOrphan, res.OrphanAt = q, now
				}
			}
			r.mu.Unlock()
			prev[in.idx] = cur
		}
	}
}

// stopAll ends every child process.
func (r *runner) stopAll() {
	for _, in := range r.instances {
		if p := in.current(); p != nil {
			p.kill()
		}
	}
	if r.redis != nil {
		r.redis.kill()
		_ = r.redis.cli.Close()
	}
}

func (r *runner) history() *History {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &History{Seed: r.s.Seed, Mode: r.s.Mode, Bounds: r.bounds, Publishes: r.pub.attempts(),
		Faults: r.faults, Markers: r.markers, QuiesceAt: r.quiesceAt}
	for _, c := range r.clients {
		h.Chains = append(h.Chains, c.chain)
	}
	h.Resources = append(h.Resources, r.retired...)
	for i := range r.instances {
		h.Resources = append(h.Resources, *r.resources[i])
	}
	return h
}
