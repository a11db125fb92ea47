package system_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/sse"
	"ssehub/internal/testkit"
)

// dialStalled opens a stream from a client whose receive buffer is small
// and that reads nothing after the response headers, as a stuck browser tab
// or a hostile client would. The returned reader picks up from there.
func dialStalled(t *testing.T, base, query string) (net.Conn, *sse.Reader) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = fmt.Fprintf(c, "GET /sse?%s HTTP/1.1\r\nHost: x\r\n\r\n", query)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return c, sse.NewReader(resp.Body)
}

// nextEventWithin reads r up to its next event, within testkit.Wait.
func nextEventWithin(t *testing.T, c net.Conn, r *sse.Reader) sse.Frame {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(testkit.Wait)))
	return nextEvent(t, r)
}

// TestReaderThatPausesGetsEveryEvent: a client stops reading long enough
// for its socket and then its queue (ClientBuffer) to fill, and reads again
// before the write timeout: it is neither cut nor left silent, it receives
// every event once, in order, and stays live. (Before, the hub cut it with
// exactly ClientBuffer events queued, the writer drained them without seeing
// the queue close, and the stream stayed open and silent for good.)
func TestReaderThatPausesGetsEveryEvent(t *testing.T) {
	t.Parallel()
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			// The pause must stay under the write timeout, or the stall rule cuts it.
			srv := testkit.StartDefault(t, "TickInterval: 1h\nClientBuffer: 64\nWriteTimeout: 60s\n"+w.sse)
			c, r := dialStalled(t, srv.URL, "topic=big")
			require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 1 }, testkit.Wait, 5*time.Millisecond)

			// More than the kernel's largest autotuned send buffer (4 MiB),
			// so the queue fills whatever Sse.SendBuffer is.
			payload := `"` + strings.Repeat("x", 32<<10) + `"`
			const events = 300
			ids := make([]string, events)
			for i := range ids {
				ids[i] = testkit.Publish(t, srv.URL, "big", "blob", payload)
			}
			for i, id := range ids {
				require.Equal(t, id, nextEventWithin(t, c, r).ID, "event %d", i)
			}
			last := testkit.Publish(t, srv.URL, "big", "blob", `"after"`)
			require.Equal(t, last, nextEventWithin(t, c, r).ID, "the stream is live after the pause")
			require.Equal(t, 1, srv.Svc.Hub.Len())
		})
	}
}

// TestBurstReachesReadersThatKeepUp: a burst several times ClientBuffer,
// appended faster than any writer can write, reaches every client that
// keeps reading, complete and in order, without cutting one of them.
func TestBurstReachesReadersThatKeepUp(t *testing.T) {
	t.Parallel()
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			srv := testkit.StartDefault(t, "TickInterval: 1h\nClientBuffer: 16\n"+w.sse)
			const clients, burst = 20, 500
			streams := make([]*testkit.Stream, clients)
			for i := range streams {
				streams[i] = testkit.Open(t, srv.URL+"/sse?topic=burst", nil)
			}
			require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == clients }, testkit.Wait, 5*time.Millisecond)
			ids := make([]string, burst)
			for i := range ids {
				id, _, err := srv.Svc.Log.Append(context.Background(), event.Message{
					Topic: "burst", Type: "n", Data: []byte(strconv.Itoa(i)),
				})
				require.NoError(t, err)
				ids[i] = id.String()
			}
			for n, s := range streams {
				for i, id := range ids {
					f := s.NextEvent(t)
					require.Equal(t, id, f.ID, "client %d, event %d", n, i)
				}
			}
			require.Equal(t, clients, srv.Svc.Hub.Len(), "no client was cut")
		})
	}
}

// tcpMemory is the kernel's TCP memory in use, in bytes
// (/proc/net/sockstat counts pages).
func tcpMemory(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/net/sockstat")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "TCP:") {
			continue
		}
		fields := strings.Fields(line)
		for i := 1; i+1 < len(fields); i++ {
			if fields[i] == "mem" {
				pages, err := strconv.ParseInt(fields[i+1], 10, 64)
				require.NoError(t, err)
				return pages * int64(os.Getpagesize())
			}
		}
	}
	t.Fatal("no TCP mem in /proc/net/sockstat")
	return 0
}

// TestStalledReadersHoldBoundedKernelMemory: clients that never read pin at
// most their send buffer each (Sse.SendBuffer, doubled by the kernel), not
// the megabytes the kernel's autotuning would give them, and once they are
// cut as slow their memory is freed at once (an abortive close), without
// waiting for them to read or close.
func TestStalledReadersHoldBoundedKernelMemory(t *testing.T) {
	if _, err := os.Stat("/proc/net/sockstat"); err != nil {
		t.Skip("no /proc/net/sockstat")
	}
	const clients, sendBuffer = 200, 32 << 10
	srv := testkit.StartDefault(t, fmt.Sprintf("TickInterval: 1h\nWriteTimeout: 2s\nSendBuffer: %d", sendBuffer))
	// Other tests run beside this one and use TCP memory too.
	const slack = 48 << 20
	base := tcpMemory(t)
	for range clients {
		dialStalled(t, srv.URL, "topic=big")
	}
	require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == clients }, testkit.Wait, 5*time.Millisecond)
	payload := `"` + strings.Repeat("x", 32<<10) + `"`
	for range 100 {
		testkit.Publish(t, srv.URL, "big", "blob", payload)
	}
	// Per client: the server's send buffer and the client's small receive
	// buffer, each doubled by the kernel.
	bound := int64(clients) * (2*sendBuffer + 2*16<<10)
	held := tcpMemory(t) - base
	t.Logf("%d stalled clients hold %d KiB of TCP memory (bound %d KiB)", clients, held>>10, bound>>10)
	require.LessOrEqual(t, held, bound+slack)

	require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 0 }, testkit.Wait, 10*time.Millisecond,
		"stalled clients were not cut")
	require.Eventually(t, func() bool { return tcpMemory(t)-base <= slack }, testkit.Wait, 10*time.Millisecond,
		"TCP memory did not return to its baseline after the cut: %d KiB held", (tcpMemory(t)-base)>>10)
}

// TestShutdownWaitsForAReaderThatIsBehind: at shutdown a client that is
// still reading what was queued for it (its socket is full, so part of a
// batch waits in the server) gets all of it, then the final retry and the end
// of the body, not a reset. (Before, the taken-over writer reset every
// stream with unwritten bytes as soon as the drain began.)
func TestShutdownWaitsForAReaderThatIsBehind(t *testing.T) {
	t.Parallel()
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			srv := testkit.StartDefault(t, "TickInterval: 1h\nWriteTimeout: 60s\n"+w.sse)
			c, r := dialStalled(t, srv.URL, "topic=big")
			reading := testkit.Open(t, srv.URL+"/sse?topic=big", nil)
			require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 2 }, testkit.Wait, 5*time.Millisecond)
			// Far more than both sockets' buffers hold.
			payload := `"` + strings.Repeat("x", 32<<10) + `"`
			ids := make([]string, 40)
			for i := range ids {
				ids[i] = testkit.Publish(t, srv.URL, "big", "blob", payload)
			}
			for _, id := range ids {
				require.Equal(t, id, reading.NextEvent(t).ID, "the hub delivered every event")
			}

			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				srv.Stop()
			}()
			for i, id := range ids {
				require.Equal(t, id, nextEventWithin(t, c, r).ID, "event %d", i)
			}
			_, err := r.Next()
			require.ErrorIs(t, err, io.EOF, "the body ends, after the last frame")
			require.Equal(t, 2, r.Retries, "the preamble's retry line, then the final one")
			<-stopped
		})
	}
}
