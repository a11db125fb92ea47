// Package loadconns is one process's share of a load run: it opens many SSE
// streams to the server and counts what each receives (lost, duplicated,
// publish-to-delivery latency, fan-out spread).
package loadconns

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"ssehub/internal/benchreport"
	"ssehub/internal/sse"
)

// readBuffer is each connection's read buffer; events are small, and 19,500
// connections in one process make every KiB count.
const readBuffer = 2 << 10

// Config is one process's share of the connections.
type Config struct {
	Addr        string        `json:"addr"` // host:port of the server
	Path        string        `json:"path"` // request path with query
	N           int           `json:"n"`
	Srcs        int           `json:"srcs"`      // source addresses 127.0.0.1..127.0.0.Srcs
	SrcOffset   int           `json:"srcOffset"` // rotation start, so processes spread evenly
	Concurrency int           `json:"concurrency"`
	DialTimeout time.Duration `json:"dialTimeout"`
	MaxSeq      int           `json:"maxSeq"`
}

// connStats is one connection's view, written only by its reader goroutine.
type connStats struct {
	last     atomic.Uint64 // highest seq seen
	received uint64
	lost     uint64
	dup      uint64
	endErr   string // why the stream ended before the stop, if it did
}

// Loader holds one process's connections and what they saw.
type Loader struct {
	cfg      Config
	conns    []net.Conn
	stats    []connStats
	readers  sync.WaitGroup
	stopping atomic.Bool

	connect benchreport.Hist
	latency benchreport.Hist
	first   []atomic.Int64 // per seq: first delivery, unix nanos
	last    []atomic.Int64 // per seq: last delivery

	mu          sync.Mutex
	failReasons map[string]int
	established int
	establish   time.Duration
}

// New returns a loader for cfg; Open connects it.
func New(cfg Config) *Loader {
	return &Loader{
		cfg:         cfg,
		conns:       make([]net.Conn, cfg.N),
		stats:       make([]connStats, cfg.N),
		first:       make([]atomic.Int64, cfg.MaxSeq+1),
		last:        make([]atomic.Int64, cfg.MaxSeq+1),
		failReasons: map[string]int{},
	}
}

// Open establishes every connection, cfg.Concurrency at a time; a connection
// counts once its preamble arrived, since the server has subscribed it then.
func (l *Loader) Open() {
	start := time.Now()
	next := atomic.Int64{}
	var dialers sync.WaitGroup
	for range max(l.cfg.Concurrency, 1) {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= l.cfg.N {
					return
				}
				t0 := time.Now()
				sc, err := l.dial(i)
				l.mu.Lock()
				if err != nil {
					l.failReasons[reasonOf(err)]++
				} else {
					l.established++
				}
				l.mu.Unlock()
				if err != nil {
					continue
				}
				l.connect.Record(time.Since(t0))
				l.readers.Add(1)
				go l.read(i, sc)
			}
		}()
	}
	dialers.Wait()
	l.establish = time.Since(start)
}

func (l *Loader) dial(i int) (*sse.Scanner, error) {
	d := net.Dialer{Timeout: l.cfg.DialTimeout}
	if l.cfg.Srcs > 1 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+(i+l.cfg.SrcOffset)%l.cfg.Srcs))}
		d.Control = bindAddressNoPort
	}
	c, err := d.Dial("tcp", l.cfg.Addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(l.cfg.DialTimeout))
	req := "GET " + l.cfg.Path + " HTTP/1.1\r\nHost: " + l.cfg.Addr + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		_ = c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, readBuffer)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_ = c.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	sc := sse.NewScanner(resp.Body, readBuffer)
	if _, _, comment, err := sc.Next(); err != nil || !comment {
		_ = c.Close()
		return nil, fmt.Errorf("no preamble: %w", err)
	}
	_ = c.SetDeadline(time.Time{})
	l.conns[i] = c
	return sc, nil
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT, missing from syscall.
const ipBindAddressNoPort = 24

// bindAddressNoPort lets a dial with a source address pick its port at
// connect time, per destination, instead of searching at bind time for a
// port free for every destination, which gets slow with many sockets.
func bindAddressNoPort(_, _ string, rc syscall.RawConn) error {
	var opErr error
	err := rc.Control(func(fd uintptr) {
		opErr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return opErr
}
