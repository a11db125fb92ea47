// Package redistest runs real redis-server processes for tests. It depends
// on nothing in ssehub, so every package's tests can use it.
package redistest

import (
	"bufio"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/testkit/need"
)

// wait bounds how long the helpers wait for redis-server to start or stop.
const wait = 10 * time.Second

// Server is a real redis-server on a loopback port, owned by one test.
type Server struct {
	Addr string
	Port int
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs redis-server without persistence on a free port and stops
// it at cleanup. A port taken between choosing and binding it is retried.
func Start(t testing.TB) *Server {
	t.Helper()
	r := &Server{dir: t.TempDir()}
	t.Cleanup(r.Kill)
	for try := 0; ; try++ {
		r.Port = FreePort(t)
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port))
		out, err := r.launch(t)
		if err == nil {
			return r
		}
		if try == 2 || !strings.Contains(out, "Address already in use") {
			t.Fatalf("redis-server on port %d: %v\n%s", r.Port, err, out)
		}
	}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs the server again on its port, with its data directory.
func (r *Server) Start(t testing.TB) {
	t.Helper()
	if out, err := r.launch(t); err != nil {
		t.Fatalf("redis-server on port %d: %v\n%s", r.Port, err, out)
	}
}

// launch runs redis-server and waits until it accepts commands; on failure
// it returns what the server printed.
func (r *Server) launch(t testing.TB) (string, error) {
	t.Helper()
	bin := need.Tool(t, "redis-server", "/usr/bin/redis-server")
	cmd := exec.Command(bin, "--save", "", "--appendonly", "no", "--port", strconv.Itoa(r.Port),
		"--bind", "127.0.0.1", "--dir", r.dir, "--dbfilename", "dump.rdb")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var log strings.Builder
	var logMu sync.Mutex
	done := make(chan struct{})
	ready := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		<-scanned
		_ = cmd.Wait()
		close(done)
	}()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	select {
	case <-ready:
		return "", nil
	case <-done:
		logMu.Lock()
		defer logMu.Unlock()
		return log.String(), errors.New("exited at start")
	case <-time.After(wait):
		return "", errors.New("not ready in time")
	}
}

// Stop shuts the server down; with save it writes its data first, so a
// Start afterwards finds the stream as it was.
func (r *Server) Stop(t testing.TB, save bool) {
	t.Helper()
	mode := "NOSAVE"
	if save {
		mode = "SAVE"
	}
	conn, err := net.DialTimeout("tcp", r.Addr, wait)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("SHUTDOWN " + mode + "\r\n"))
	require.NoError(t, err)
	r.wait(t)
}

// Kill ends the server at once, losing its data.
func (r *Server) Kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

func (r *Server) wait(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("redis-server on port %d did not stop", r.Port)
	}
}
