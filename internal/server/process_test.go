package server_test

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/eventid"
	"ssehub/internal/testkit"
)

func processYAML(port int, sse string) string {
	return testkit.ProcessYAML("ssehub-proc", port, "Retry: 1s\n"+sse, "")
}

// TestSigtermEndsEveryStreamAndExitsZero: go-zero's graceful shutdown waits
// for idle connections, which a stream never is; the hub must end them.
func TestSigtermEndsEveryStreamAndExitsZero(t *testing.T) {
	t.Parallel()
	p := testkit.StartProcess(t, processYAML(0, "TickInterval: 50ms"))
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
	first := testkit.StartProcess(t, processYAML(0, sse))
	oldIDs := publishN(t, first.URL, "news", 3)
	port := first.Addr[strings.LastIndex(first.Addr, ":")+1:]
	first.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, first.Wait(t, 5*time.Second))

	var portNum int
	_, err := fmt.Sscanf(port, "%d", &portNum)
	require.NoError(t, err)
	second := testkit.StartProcess(t, processYAML(portNum, sse))
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
