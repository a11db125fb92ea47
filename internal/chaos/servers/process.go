package servers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errNotExited says a process outlived the wait for it.
var errNotExited = errors.New("process did not exit in time")

// process is one child process (ssehub or redis-server) owned by the run.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File // its whole output, in the run's directory

	mu   sync.Mutex
	tail []string // the last lines it printed, for failure reports
	code int
}

// tailLines bounds what a process's output costs: only the end is kept.
const tailLines = 200

// spawns carries process starts to the one goroutine that forks them.
var (
	spawnOnce sync.Once
	spawns    chan func()
)

// spawn runs start on a goroutine locked to its OS thread for the life of
// the program: Pdeathsig fires when the forking thread exits, so forking
// from a thread Go might retire would kill children early.
func spawn(start func()) {
	spawnOnce.Do(func() {
		spawns = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawns {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawns <- func() { start(); close(done) }
	<-done
}

// startProcess runs bin with args, its output appended to dir/<name>.log
// (kept with -keep). Pdeathsig kills it if the run dies without cleaning
// up (a panic, a signal), so no child outlives the run.
func startProcess(name, dir, bin string, args ...string) (*process, error) {
	log, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd.Stderr = cmd.Stdout
	spawn(func() { err = cmd.Start() })
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	scanned := make(chan struct{})
	go p.collect(out, scanned)
	go func() {
		<-scanned
		err := cmd.Wait()
		p.mu.Lock()
		p.code = cmd.ProcessState.ExitCode()
		if err != nil && p.code == 0 {
			p.code = -1
		}
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *process) collect(out io.Reader, scanned chan<- struct{}) {
	defer close(scanned)
	defer p.log.Close()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		_, _ = fmt.Fprintln(p.log, sc.Text())
		p.mu.Lock()
		p.tail = append(p.tail, sc.Text())
		if len(p.tail) > 2*tailLines {
			p.tail = append(p.tail[:0], p.tail[len(p.tail)-tailLines:]...)
		}
		p.mu.Unlock()
	}
}

// pid is the process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// signal sends sig; a process that already exited is not an error.
func (p *process) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *process) wait(d time.Duration) (int, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.code, nil
	case <-time.After(d):
		return 0, fmt.Errorf("%s: %w after %v", p.name, errNotExited, d)
	}
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process at once and waits for it.
func (p *process) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// output is the end of what the process printed.
func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := max(0, len(p.tail)-tailLines)
	return strings.Join(p.tail[from:], "\n")
}
