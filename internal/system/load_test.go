package system_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/sse"
	"ssehub/internal/testkit"
)

// readTicks opens a stream and checks that n ticks arrive with consecutive seq.
func readTicks(ctx context.Context, client *http.Client, url string, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	r := sse.NewReader(resp.Body)
	var last uint64
	for got := 0; got < n; {
		f, err := r.Next()
		if err != nil {
			return fmt.Errorf("after %d ticks: %w", got, err)
		}
		if f.Event != "tick" {
			continue
		}
		var seq uint64
		if _, err := fmt.Sscanf(f.Data[strings.Index(f.Data, `"seq":`)+6:], "%d", &seq); err != nil {
			return err
		}
		if got > 0 && seq != last+1 {
			return fmt.Errorf("tick seq %d after %d", seq, last)
		}
		last = seq
		got++
	}
	return nil
}

func TestThousandClientsConnectAndDisconnectWhileTicking(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 20ms")
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const clients = 1000
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readTicks(ctx, client, srv.URL+"/sse", 5)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 0 }, testkit.Wait, 5*time.Millisecond,
		"every client must be gone from the hub")
}

func TestNoGoroutineLeakAfterThousandCycles(t *testing.T) {
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	cycle := func() {
		resp, err := client.Get(srv.URL + "/sse")
		require.NoError(t, err)
		r := sse.NewReader(resp.Body)
		_, err = r.Next() // the preamble comment: the client is subscribed
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	cycle()
	require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 0 }, testkit.Wait, 5*time.Millisecond)
	before := runtime.NumGoroutine()

	for i := 0; i < 1000; i++ {
		cycle()
	}
	require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 0 }, testkit.Wait, 5*time.Millisecond)
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+5 }, testkit.Wait, 10*time.Millisecond,
		"goroutines before %d, now %d", before, runtime.NumGoroutine())
}

func TestSlowClientIsCutOffAndOthersGetEveryEvent(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nClientBuffer: 4\nWriteTimeout: 2s")
	fast := testkit.Open(t, srv.URL+"/sse?topic=big", nil)

	// The slow client sends its request and never reads, so its socket
	// buffers fill and its queue overflows.
	slow, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer slow.Close()
	_, err = io.WriteString(slow, "GET /sse?topic=big HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 2 }, testkit.Wait, 5*time.Millisecond)

	payload := `"` + strings.Repeat("x", 60_000) + `"`
	const events = 300
	ids := make(chan string, events)
	go func() {
		for i := 0; i < events; i++ {
			ids <- testkit.Publish(t, srv.URL, "big", "blob", payload)
		}
		close(ids)
	}()
	for id := range ids {
		f := fast.NextEvent(t)
		require.Equal(t, id, f.ID, "the fast client must get every event, in order")
	}
	require.Equal(t, 1, srv.Svc.Hub.Len(), "the slow client must be cut off")

	// Its connection ends with a reset: it was not reading, so a last frame
	// would never reach it, and the reset frees its socket's memory at once.
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(testkit.Wait)))
	_, err = io.Copy(io.Discard, bufio.NewReader(slow))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	require.Contains(t, testkit.Metrics(t, srv.URL), `ssehub_clients_disconnected_total{reason="slow"}`)
}

func TestClientLimitAnswers503WithRetryAfter(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nMaxClients: 2")
	testkit.Open(t, srv.URL+"/sse", nil)
	testkit.Open(t, srv.URL+"/sse", nil)
	resp := testkit.Get(t, srv.URL+"/sse", nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	body, _ := io.ReadAll(resp.Body)
	require.JSONEq(t, `{"code":"too_many_clients","message":"the server holds its maximum number of streams"}`, string(body))
}
