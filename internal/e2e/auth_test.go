package e2e

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/stretchr/testify/require"

	"ssehub/internal/e2e/chromium"
	"ssehub/internal/testkit"
	"ssehub/internal/testkit/process"
)

// ticketOf returns the ticket in an /sse URL.
func ticketOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query().Get("ticket")
}

// TestPageTicketFlowSurvivesRestart: with Auth on, the page asks for a token
// (the first stream got 401), buys a ticket per connection with it, and,
// when ssehub restarts under it (memory mode), buys a new ticket, resumes
// with its last id, and shows the reset and then every event published into
// the new process, once, in order. The reconnect is held in DevTools until
// those events exist, as in TestPageSurvivesServerRestart.
func TestPageTicketFlowSurvivesRestart(t *testing.T) {
	const topic = "e2e-ticket"
	yaml := func(port int) string {
		return process.YAML("ssehub-e2e-auth", port, "Retry: 2s\nTickInterval: 0s", authYAML)
	}
	first := process.Start(t, yaml(0))
	_, portText, err := net.SplitHostPort(first.Addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	tok := token(t, topic)

	tab := NewTab(t)
	tab.Open(first.URL + "/static/index.html?topic=" + topic)
	pasteToken(t, tab, tok)
	p := tab.Wait(`p.state === "open"`)
	require.Empty(t, p.Refused, "%s", p)
	opened := tab.Net.WaitStream(t, "with a ticket", func(r chromium.Request) bool { return ticketOf(t, r.URL) != "" })
	before := publishAs(t, first.URL, tok, topic, 1)
	tab.Wait(`p.events.length === 1`)

	paused := holdStreams(t, tab)
	first.Signal(t, syscall.SIGTERM)
	require.Equal(t, 0, first.Wait(t, Bound), "ssehub exits 0 on SIGTERM\n%s", first.Logs())
	tab.Wait(`p.state === "reconnecting"`)

	second := process.Start(t, yaml(port))
	missed := publishAs(t, second.URL, tok, topic, 3)
	var reconnect fetch.EventRequestPaused
	select {
	case reconnect = <-paused:
	case <-time.After(Bound):
		t.Fatalf("the page did not reconnect within %v", Bound)
	}
	fresh := ticketOf(t, reconnect.Request.URL)
	require.NotEmpty(t, fresh, "the reconnect carries a ticket: %s", reconnect.Request.URL)
	require.NotEqual(t, ticketOf(t, opened.URL), fresh, "a new ticket: the old one is spent")
	require.Contains(t, reconnect.Request.URL, "lastEventId="+before[0].ID, "it resumes after its last id")
	release(t, tab, reconnect)

	p = tab.Wait(`p.state === "open" && p.events.length >= 5`)
	require.Equal(t, 1, p.Reconnects, "%s", p)
	require.Equal(t, before[0], p.Events[0])
	require.Equal(t, "reset", p.Events[1].Event, "the reset comes first: %s", p)
	require.JSONEq(t, fmt.Sprintf(`{"reason":"history-gone","lastEventId":%q}`, before[0].ID), p.Events[1].Data)
	require.Equal(t, missed, p.Events[2:], "exactly the three events, once, in order: %s", p)
	live := publishAs(t, second.URL, tok, topic, 1)
	p = tab.Wait(`p.events.length >= 6`)
	require.Equal(t, live, p.Events[5:], "then live events: %s", p)
}

// TestPageShowsForbiddenTopic: a token without the page's topic gets 403,
// which the page shows as a refusal and does not retry.
func TestPageShowsForbiddenTopic(t *testing.T) {
	srv := testkit.Start(t, testkit.Config(t, "TickInterval: 0s", authYAML))
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-other")
	pasteToken(t, tab, token(t, "e2e-allowed"))
	p := tab.Wait(`p.refusedStatus === 403`)
	require.Equal(t, "closed", p.State, "%s", p)
	require.Contains(t, p.Refused, "topic_forbidden")
	require.Contains(t, p.Refused, "e2e-other")
	require.Contains(t, p.Refused, "Not retrying")
	require.False(t, p.TokenNeeded, "a 403 is not a missing token: %s", p)
	// Two requests after the token: the EventSource, then the probe that
	// read the status (DevTools may report it a moment after the page shows
	// its answer). Nothing after that.
	withTicket := func(rs []chromium.Request) int {
		n := 0
		for _, r := range rs {
			if ticketOf(t, r.URL) != "" {
				n++
			}
		}
		return n
	}
	rs := tab.Net.WaitStreams(t, "for the stream and its probe", func(rs []chromium.Request) bool { return withTicket(rs) >= 2 })
	require.Equal(t, 2, withTicket(rs), "%+v", rs)
}
