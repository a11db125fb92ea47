// Package process runs ssehub as a child process for tests that need the
// real binary: restarts, signals, exit codes, several instances.
package process

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/testkit"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./ once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ssehub-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ssehub")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

var listening = regexp.MustCompile(`ssehub listening.*addr=(\S+)`)

// Process is ssehub running as a child process.
type Process struct {
	Cmd  *exec.Cmd
	URL  string
	Addr string
	done chan struct{}
	err  error
	mu   sync.Mutex
	logs []string
}

// Start writes yaml to a file and runs the binary with it; yaml must
// log at info level or lower so the listening line is printed.
func Start(t testing.TB, yaml string) *Process {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "ssehub.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(yaml), 0o600))
	cmd := exec.Command(Binary(t), "-f", cfg)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				addrs <- m[1]
			}
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.Addr = <-addrs:
		p.URL = "http://" + p.Addr
	case <-p.done:
		t.Fatalf("ssehub exited before listening: %v\n%s", p.err, p.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("ssehub did not start listening\n%s", p.Logs())
	}
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.Cmd.Process.Signal(sig))
}

// Wait waits up to d for the process to exit and returns its exit code.
func (p *Process) Wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("ssehub still running after %v", d)
		return -1
	}
}

// Logs returns what the process printed so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := ""
	for _, l := range p.logs {
		out += l + "\n"
	}
	return out
}

// YAML is a config for ssehub as a child process on port (0 for a free
// one): plain info logs, as Start needs, a 1 s shutdown wait,
// publishing open; sse lines go under Sse and extra at the top level.
func YAML(name string, port int, sse, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name: %s\nHost: 127.0.0.1\nPort: %d\n", name, port)
	b.WriteString("Log:\n  Mode: console\n  Encoding: plain\n  Level: info\n  Stat: false\n")
	b.WriteString("Shutdown:\n  WrapUpTime: 200ms\n  WaitTime: 5s\n")
	b.WriteString("Sse:\n  PublishOpen: true\n" + testkit.Indent(sse))
	b.WriteString(extra)
	return b.String()
}

// RedisYAML is a process config in Redis mode on addr.
func RedisYAML(name, addr, sse string) string {
	return YAML(name, 0, sse, fmt.Sprintf("Redis:\n  Addr: %s\n  KeyPrefix: scale\n", addr))
}
