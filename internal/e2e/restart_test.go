package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"ssehub/internal/e2e/chromium"
	"ssehub/internal/testkit/process"
)

// processYAML is a child-process config with a 2s retry, so the page comes
// back well after the new process listens.
func processYAML(port int) string {
	return process.YAML("ssehub-e2e", port, "Retry: 2s\nTickInterval: 200ms", "")
}

// TestPageSurvivesServerRestart restarts ssehub on the same port under an
// open page. The page's reconnect is held in DevTools (Fetch domain) until the
// new process has three events, so "published before the browser reconnects"
// holds every run and not only when the timing is kind.
func TestPageSurvivesServerRestart(t *testing.T) {
	const topic = "e2e-restart"
	first := process.Start(t, processYAML(0))
	_, portText, err := net.SplitHostPort(first.Addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)

	tab := NewTab(t)
	tab.Open(first.URL + "/static/index.html?topic=" + topic)
	tab.Wait(`p.state === "open"`)
	before := publishN(t, first.URL, topic, 1)
	tab.Wait(`p.events.length === 1`)

	paused := holdStreams(t, tab)
	first.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, first.Wait(t, Bound), "ssehub exits 0 on SIGTERM\n%s", first.Logs())
	tab.Wait(`p.state === "reconnecting"`)

	second := process.Start(t, processYAML(port))
	require.Equal(t, first.Addr, second.Addr)
	missed := publishN(t, second.URL, topic, 3)

	var reconnect fetch.EventRequestPaused
	select {
	case reconnect = <-paused:
	case <-time.After(Bound):
		t.Fatalf("the page did not reconnect within %v", Bound)
	}
	require.Contains(t, reconnect.Request.URL, "/sse?topic="+topic)
	release(t, tab, reconnect)

	p := tab.Wait(`p.state === "open" && p.events.length >= 5`)
	require.Equal(t, 1, p.Reconnects, "one reconnect: %s", p)
	require.Equal(t, before[0], p.Events[0])
	reset := p.Events[1]
	require.Equal(t, "reset", reset.Event, "the page shows the reset first: %s", p)
	require.JSONEq(t, fmt.Sprintf(`{"reason":"history-gone","lastEventId":%q}`, before[0].ID), reset.Data)
	require.Equal(t, "history-gone", p.ResetReason)
	require.Equal(t, missed, p.Events[2:], "exactly the three events, once, in order: %s", p)

	live := publishN(t, second.URL, topic, 1)
	p = tab.Wait(`p.events.length >= 6`)
	require.Equal(t, live, p.Events[5:], "then live events: %s", p)
	require.Equal(t, live[0].ID, p.LastID)
	tab.SaveArtifact("page-after-restart.png", tab.Screenshot("after the restart"))

	// The reconnect is the second /sse request; DevTools reports the headers
	// Chromium put on the wire after the held request went on.
	got := tab.Net.WaitStream(t, "carrying Last-Event-ID on the wire", func(r chromium.Request) bool {
		return r.Header("Last-Event-ID") != ""
	})
	require.Equal(t, before[0].ID, got.Header("Last-Event-ID"))
	streams := tab.Net.Streams()
	require.Len(t, streams, 2, "one stream, one reconnect: %+v", streams)
	require.Equal(t, streams[1].ID, got.ID)
	require.NotEmpty(t, streams[0].Headers, "%+v", streams[0])
	require.Empty(t, streams[0].Header("Last-Event-ID"), "the first stream had no id to send")
}

// release lets a held request through and stops holding the tab's streams.
func release(t *testing.T, tab *Tab, held fetch.EventRequestPaused) {
	t.Helper()
	tab.Do("let the held stream through", func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: held.RequestID})
		if err != nil {
			return chromedp.Void{}, err
		}
		_, err = chromedp.Call(ctx, fetch.Disable, struct{}{})
		return chromedp.Void{}, err
	})
}

// holdStreams pauses the tab's next /sse requests in DevTools and hands each
// to the test, which must continue it.
func holdStreams(t *testing.T, tab *Tab) <-chan fetch.EventRequestPaused {
	t.Helper()
	out := make(chan fetch.EventRequestPaused, 16)
	events := chromedp.Events(tab.Context(), fetch.RequestPaused)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			out <- ev
		}
	}()
	tab.Do("hold /sse requests", func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{
			Patterns: []*fetch.RequestPattern{{URLPattern: "*/sse?*", RequestStage: fetch.RequestStageRequest}},
		})
		return chromedp.Void{}, err
	})
	return out
}
