package system_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/eventid"
	"ssehub/internal/testkit"
	"ssehub/internal/testkit/process"
)

func processYAML(port int, sse string) string {
	return process.YAML("ssehub-proc", port, "Retry: 1s\n"+sse, "")
}

// TestSigtermEndsEveryStreamAndExitsZero: go-zero's graceful shutdown waits
// for idle connections, which a stream never is; the hub must end them.
func TestSigtermEndsEveryStreamAndExitsZero(t *testing.T) {
	t.Parallel()
	p := process.Start(t, processYAML(0, "TickInterval: 50ms"))
	const streams = 100
	opened := make([]*testkit.Stream, streams)
	for i := range opened {
		opened[i] = testkit.Open(t, p.URL+"/sse", nil)
		opened[i].NextOf(t, "tick")
	}

	p.Signal(t, syscall.SIGTERM)
	var wg sync.WaitGroup
	for _, s := range opened {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.End(t)
		}()
	}
	wg.Wait()
	for _, s := range opened {
		require.Equal(t, 2, s.Retries(), "a stream ends with a retry line after the preamble's")
	}
	require.Equal(t, 0, p.Wait(t, 5*time.Second), p.Logs())
}

// TestResumeAcrossRestartGetsResetThenNewHistory restarts an in-memory
// server: an id from the earlier process is older than all retained history,
// so the client gets a reset and then everything the new process published.
func TestResumeAcrossRestartGetsResetThenNewHistory(t *testing.T) {
	t.Parallel()
	sse := "TickInterval: 1h"
	first := process.Start(t, processYAML(0, sse))
	oldIDs := publishN(t, first.URL, "news", 3)
	port := first.Addr[strings.LastIndex(first.Addr, ":")+1:]
	first.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, first.Wait(t, 5*time.Second))

	var portNum int
	_, err := fmt.Sscanf(port, "%d", &portNum)
	require.NoError(t, err)
	second := process.Start(t, processYAML(portNum, sse))
	newIDs := publishN(t, second.URL, "news", 3)
	oldID, err := eventid.Parse(oldIDs[2])
	require.NoError(t, err)
	newID, err := eventid.Parse(newIDs[0])
	require.NoError(t, err)
	require.True(t, oldID.Less(newID), "ids must keep growing across restarts: %s then %s", oldID, newID)

	s := testkit.Open(t, second.URL+"/sse?topic=news", lastEventID(oldIDs[2]))
	requireReset(t, s.NextEvent(t), "history-gone", oldIDs[2])
	for _, want := range newIDs {
		require.Equal(t, want, s.NextEvent(t).ID)
	}
	live := testkit.Publish(t, second.URL, "news", "m", `"live"`)
	require.Equal(t, live, s.NextEvent(t).ID)
}

// held opens a connection, has one request answered on it (so the server
// has accepted it), then sends stuck and leaves the connection as it is.
func held(t *testing.T, addr, stuck string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4<<10))
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(testkit.Wait)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_ = resp.Body.Close()
	_, err = io.WriteString(conn, stuck)
	require.NoError(t, err)
	return conn
}

// TestSigtermExitsZeroWithinWaitTimeWhateverClientsDo: connections that
// never read, never finish a body or never finish their headers (every
// request deadline far beyond the wait) used to hold go-zero's shutdown
// until the force-kill; now they are closed and the process exits 0 within
// Shutdown.WaitTime, after every open stream got its last retry and end.
func TestSigtermExitsZeroWithinWaitTimeWhateverClientsDo(t *testing.T) {
	t.Parallel()
	const wait = 3 * time.Second
	yaml := process.YAML("ssehub-stuck", 0, "Retry: 1s\nTickInterval: 50ms\nReadHeaderTimeout: 60s\nIdleTimeout: 60s",
		"Timeout: 60000\n")
	yaml = strings.Replace(yaml, "WaitTime: 5s", "WaitTime: "+wait.String(), 1)
	p := process.Start(t, yaml)

	held(t, p.Addr, strings.Repeat("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 500))
	held(t, p.Addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
	held(t, p.Addr, "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	held(t, p.Addr, "GET /sse HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	opened := make([]*testkit.Stream, 10)
	for i := range opened {
		opened[i] = testkit.Open(t, p.URL+"/sse", nil)
		opened[i].NextOf(t, "tick")
	}

	start := time.Now()
	p.Signal(t, syscall.SIGTERM)
	var wg sync.WaitGroup
	for _, s := range opened {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.End(t)
		}()
	}
	wg.Wait()
	require.Equal(t, 0, p.Wait(t, wait+2*time.Second), p.Logs())
	require.Less(t, time.Since(start), wait, "exit within Shutdown.WaitTime")
	for _, s := range opened {
		require.Equal(t, 2, s.Retries(), "a stream ends with a retry line after the preamble's")
	}
}
