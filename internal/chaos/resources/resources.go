// Package resources measures each instance process of a chaos run: its
// baseline before clients (descriptors, goroutines, sockets and bytes
// queued in the kernel on its port, sockstat), the same after them, and the
// memory that sockets it has closed keep in the kernel meanwhile.
package resources

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/servers"
)

// tcpSock is one line of /proc/net/tcp{,6}.
type tcpSock struct {
	local, remote int // ports
	state         string
	queued        int64 // tx_queue + rx_queue bytes
	tx            int64
	inode         string
}

// TCP states as /proc/net/tcp writes them.
const (
	tcpEstablished = "01"
	tcpTimeWait    = "06"
	tcpCloseWait   = "08"
	tcpListen      = "0A"
)

// readTCP lists every TCP socket of this network namespace (everything of
// the run is on loopback, so the ports tell whose a socket is).
func readTCP() ([]tcpSock, error) {
	var out []tcpSock
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		lines := strings.Split(string(data), "\n")
		for _, line := range lines[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 {
				continue
			}
			tx, rx, _ := strings.Cut(fs[4], ":")
			s := tcpSock{local: hexPort(fs[1]), remote: hexPort(fs[2]), state: fs[3], inode: fs[9]}
			t, _ := strconv.ParseInt(tx, 16, 64)
			r, _ := strconv.ParseInt(rx, 16, 64)
			s.tx, s.queued = t, t+r
			out = append(out, s)
		}
	}
	return out, nil
}

func hexPort(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.ParseInt(p, 16, 32)
	return int(n)
}

// sample reads the resources of the instance's current process.
// Descriptors of its connections to Redis are left out: go-redis keeps a
// pool that grows with load and stays, which is not a leak of streams.
func sample(ctx context.Context, in *servers.Instance, redisPort int) (history.Sample, error) {
	pid := in.PID()
	socks, err := readTCP()
	if err != nil {
		return history.Sample{}, err
	}
	toRedis := map[string]bool{}
	var s history.Sample
	for _, k := range socks {
		if redisPort != 0 && k.remote == redisPort {
			toRedis["socket:["+k.inode+"]"] = true
		}
		if k.state == tcpListen {
			continue
		}
		if k.local == in.Port() && (k.state == tcpEstablished || k.state == tcpCloseWait) {
			s.Sockets++
		}
		if k.local == in.Port() || k.remote == in.Port() {
			s.Queued += k.queued
		}
	}
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		return history.Sample{}, fmt.Errorf("list descriptors: %w", err)
	}
	for _, fd := range fds {
		if link, err := os.Readlink(fd); err == nil && !toRedis[link] {
			s.FDs++
		}
	}
	if s.Goroutines, err = goroutines(ctx, in.URL()); err != nil {
		return history.Sample{}, err
	}
	s.SockMem = sockMem()
	return s, nil
}

// goroutines reads go_goroutines from the instance's /metrics (go-zero's
// Prometheus registry includes Go's process collectors).
func goroutines(ctx context.Context, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := servers.Probe.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("metrics of %s: no go_goroutines", base)
}

// sockMem is the TCP "mem" of /proc/net/sockstat, in pages.
func sockMem() int64 {
	data, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "TCP: ")
		if !ok {
			continue
		}
		fs := strings.Fields(rest)
		for i := 0; i+1 < len(fs); i += 2 {
			if fs[i] == "mem" {
				n, _ := strconv.ParseInt(fs[i+1], 10, 64)
				return n
			}
		}
	}
	return -1
}

// orphanKey names a socket by its two ports.
type orphanKey struct{ local, remote int }

// orphans returns the bytes queued on each socket of port that no process
// owns any more (inode 0: the server closed it, the kernel still sends).
func orphans(socks []tcpSock, port int) map[orphanKey]int64 {
	out := map[orphanKey]int64{}
	for _, k := range socks {
		if k.local == port && k.inode == "0" && k.state != tcpTimeWait && k.state != tcpListen && k.tx > 0 {
			out[orphanKey{k.local, k.remote}] = k.tx
		}
	}
	return out
}
