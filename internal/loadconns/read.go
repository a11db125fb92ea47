package loadconns

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"ssehub/internal/sse"
)

// read counts what connection i receives until it ends.
func (l *Loader) read(i int, sc *sse.Scanner) {
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
