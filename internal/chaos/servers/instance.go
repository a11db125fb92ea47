// Package servers owns the server processes of a chaos run: ssehub
// instances, restarted on their port after a fault, and the real
// redis-server with its faults. Each is a child process that cannot outlive
// the run.
package servers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"ssehub/internal/chaos/clock"
)

// StartWait bounds how long a process may take to start serving.
const StartWait = 20 * time.Second

// errNoPort says no free port was found.
var errNoPort = errors.New("no free loopback port")

// FreePort returns a free loopback port below the ephemeral range: the
// instances restart on their port, and an ephemeral port could meanwhile be
// taken by one of the run's own outgoing connections.
func FreePort(r *rand.Rand) (int, error) {
	for range 100 {
		port := 20000 + r.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			_ = l.Close()
			return port, nil
		}
	}
	return 0, errNoPort
}

// Instance is one ssehub server of the run, restarted on the same port
// (so clients reconnect to the same address) after a fault.
type Instance struct {
	idx  int
	port int
	bin  string
	cfg  string

	mu   sync.Mutex
	proc *process
	// inc is the generation of the current process, up whether clients
	// and publishers may use it (set once its baseline is taken).
	inc atomic.Int64
	up  atomic.Bool
}

// NewInstance writes the config yaml of instance idx into dir; nothing runs
// until Start.
func NewInstance(idx, port int, bin, dir, yaml string) (*Instance, error) {
	cfg := filepath.Join(dir, fmt.Sprintf("ssehub-%d.yaml", idx))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	in := &Instance{idx: idx, port: port, bin: bin, cfg: cfg}
	in.inc.Store(-1)
	return in, nil
}

// Index is the instance's place in the run.
func (in *Instance) Index() int { return in.idx }

// Port is the loopback port it serves on, every process of it.
func (in *Instance) Port() int { return in.port }

// URL is where it serves.
func (in *Instance) URL() string { return "http://127.0.0.1:" + strconv.Itoa(in.port) }

// Incarnation is the generation of its current process (-1 before the first).
func (in *Instance) Incarnation() int { return int(in.inc.Load()) }

// Up reports whether clients and publishers may use it.
func (in *Instance) Up() bool { return in.up.Load() }

// Open lets clients and publishers use it, once its baseline is taken.
func (in *Instance) Open() { in.up.Store(true) }

// PID is the process id of its current process.
func (in *Instance) PID() int { return in.current().pid() }

// Kill ends its current process, if any, at once.
func (in *Instance) Kill() {
	if p := in.current(); p != nil {
		p.kill()
	}
}

func (in *Instance) current() *process {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.proc
}

// Start runs a new process and waits until it answers /healthz. The
// generation moves first, so a preamble read from now on is attributed to
// the new process (the old one has exited).
func (in *Instance) Start(ctx context.Context) error {
	inc := in.inc.Add(1)
	p, err := startProcess(fmt.Sprintf("ssehub-%d#%d", in.idx, inc), filepath.Dir(in.cfg), in.bin, "-f", in.cfg)
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.proc = p
	in.mu.Unlock()
	deadline := time.Now().Add(StartWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.exited() {
			return fmt.Errorf("ssehub %d exited at start:\n%s", in.idx, p.output())
		}
		if status(ctx, in.URL()+"/healthz") == http.StatusOK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()
	return fmt.Errorf("ssehub %d not healthy within %v:\n%s", in.idx, StartWait, p.output())
}

// Stop ends the current process with sig and waits up to d for it; a
// process still running then is killed. It returns when, on clk, the
// process exited (0 if only the kill ended it) and its exit code.
func (in *Instance) Stop(sig syscall.Signal, d time.Duration, clk clock.Clock) (time.Duration, int) {
	in.up.Store(false)
	p := in.current()
	p.signal(sig)
	code, err := p.wait(d)
	if err != nil {
		p.kill()
		return 0, -1
	}
	return clk.Now(), code
}

// WaitReady waits until /readyz answers 200 (Redis reachable, not draining).
func (in *Instance) WaitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if status(ctx, in.URL()+"/readyz") == http.StatusOK {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("ssehub %d not ready within %v", in.idx, d)
}

// Probe is the client for the runner's own requests to an instance (health
// here, /metrics in chaos/resources): short, and never a kept connection
// that would count among the instance's sockets.
var Probe = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func status(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := Probe.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
