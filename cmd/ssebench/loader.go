package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"ssehub/internal/sse"
)

// readBuffer is each connection's read buffer; events are small, and 19,500
// connections in one process make every KiB count.
const readBuffer = 2 << 10

// loaderConfig is one process's share of the connections.
type loaderConfig struct {
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

// loader holds one process's connections and what they saw.
type loader struct {
	cfg      loaderConfig
	conns    []net.Conn
	stats    []connStats
	readers  sync.WaitGroup
	stopping atomic.Bool

	connect Hist
	latency Hist
	first   []atomic.Int64 // per seq: first delivery, unix nanos
	last    []atomic.Int64 // per seq: last delivery

	mu          sync.Mutex
	failReasons map[string]int
	established int
	establish   time.Duration
}

func newLoader(cfg loaderConfig) *loader {
	return &loader{
		cfg:         cfg,
		conns:       make([]net.Conn, cfg.N),
		stats:       make([]connStats, cfg.N),
		first:       make([]atomic.Int64, cfg.MaxSeq+1),
		last:        make([]atomic.Int64, cfg.MaxSeq+1),
		failReasons: map[string]int{},
	}
}

// open establishes every connection, cfg.Concurrency at a time; a connection
// counts once its preamble arrived, since the server has subscribed it then.
func (l *loader) open() {
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

func (l *loader) dial(i int) (*sse.Scanner, error) {
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

// read counts what connection i receives until it ends.
func (l *loader) read(i int, sc *sse.Scanner) {
	defer l.readers.Done()
	st := &l.stats[i]
	for {
		_, data, comment, err := sc.Next()
		if err != nil {
			if !l.stopping.Load() {
				st.endErr = reasonOf(err)
			}
			return
		}
		if comment {
			continue
		}
		seq, ts, ok := parsePayload(data)
		if !ok {
			continue
		}
		now := time.Now().UnixNano()
		l.latency.Record(time.Duration(now - ts))
		if seq < uint64(len(l.first)) {
			l.first[seq].CompareAndSwap(0, now)
			storeMax(&l.last[seq], now)
		}
		st.received++
		switch prev := st.last.Load(); {
		case seq <= prev:
			st.dup++
		default:
			st.lost += seq - prev - 1
			st.last.Store(seq)
		}
	}
}

// drain waits until every live connection saw seq upto, or grace passes.
func (l *loader) drain(upto uint64, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		behind := 0
		for i := range l.stats {
			if l.conns[i] != nil && l.stats[i].last.Load() < upto {
				behind++
			}
		}
		if behind == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// close ends every connection and summarises; published is how many events
// every connection should have seen.
func (l *loader) close(published uint64) Result {
	l.stopping.Store(true)
	for _, c := range l.conns {
		if c != nil {
			_ = c.Close()
		}
	}
	l.readers.Wait()
	r := Result{
		Counts: Counts{Conns: l.cfg.N, Established: l.established, FailReasons: l.failReasons,
			EstablishSec: l.establish.Seconds(), DropReasons: map[string]int{}},
		Connect: l.connect.Snapshot(), Latency: l.latency.Snapshot(),
	}
	for i := range l.stats {
		st := &l.stats[i]
		if l.conns[i] == nil {
			continue
		}
		lost := st.lost + published - min(st.last.Load(), published)
		r.Expected += published
		r.Received += st.received
		r.Lost += lost
		r.Dup += st.dup
		if lost > 0 {
			r.ConnsWithLoss++
		}
		if st.dup > 0 {
			r.ConnsWithDup++
		}
		if st.endErr != "" {
			r.Dropped++
			r.DropReasons[st.endErr]++
		}
	}
	r.Failed = l.cfg.N - l.established
	r.First = make([]int64, len(l.first))
	r.Last = make([]int64, len(l.last))
	for i := range l.first {
		r.First[i], r.Last[i] = l.first[i].Load(), l.last[i].Load()
	}
	return r
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// parsePayload reads {"seq":N,"ts":T} as the publisher writes it.
func parsePayload(data []byte) (seq uint64, ts int64, ok bool) {
	seq, ok1 := field(data, `"seq":`)
	t, ok2 := field(data, `"ts":`)
	return seq, int64(t), ok1 && ok2
}

func field(data []byte, name string) (uint64, bool) {
	i := bytes.Index(data, []byte(name))
	if i < 0 {
		return 0, false
	}
	var n uint64
	digits := 0
	for _, c := range data[i+len(name):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
		digits++
	}
	return n, digits > 0
}

// reasonOf shortens an error to a countable reason.
func reasonOf(err error) string {
	var errno syscall.Errno
	var ne net.Error
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return err.Error()
	}
}
