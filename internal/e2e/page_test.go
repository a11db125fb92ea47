package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"ssehub/internal/e2e/chromium"
	"ssehub/internal/eventid"
	"ssehub/internal/testkit"
)

// tickBound is how soon after the stream opens the page must show ticks.
const tickBound = 3 * time.Second

// startServer runs an in-process ssehub with fast ticks.
func startServer(t *testing.T) *testkit.Instance {
	t.Helper()
	return testkit.StartDefault(t, "TickInterval: 200ms")
}

func TestPageShowsTicks(t *testing.T) {
	srv := startServer(t)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html")
	tab.Wait(`p.state === "open" && p.subscribed === "tick"`)

	p := tab.WaitWithin(tickBound, `p.events.filter((e) => e.event === "tick").length >= 3`)
	ticks := p.Of("tick")
	var prevSeq uint64
	var prevID eventid.ID
	for i, e := range ticks {
		var body struct {
			Time string `json:"time"`
			Seq  uint64 `json:"seq"`
		}
		require.NoError(t, json.Unmarshal([]byte(e.Data), &body), e.Data)
		_, err := time.Parse(time.RFC3339Nano, body.Time)
		require.NoError(t, err)
		id, err := eventid.Parse(e.ID)
		require.NoError(t, err)
		if i > 0 {
			require.Equal(t, prevSeq+1, body.Seq, "ticks arrive in order without a gap: %s", p)
			require.True(t, prevID.Less(id), "ids increase: %s", p)
		}
		prevSeq, prevID = body.Seq, id
	}
	require.Equal(t, ticks[len(ticks)-1].ID, p.LastID)
}

func TestPageShowsPublishedEventsInOrder(t *testing.T) {
	srv := startServer(t)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-news")
	tab.Wait(`p.state === "open" && p.subscribed === "e2e-news"`)

	want := publishN(t, srv.URL, "e2e-news", 3)
	p := tab.Wait(`p.events.length >= 3`)
	require.Equal(t, want, p.Events, "exactly the published events, in order: %s", p)
}

func TestPagePublishForm(t *testing.T) {
	srv := startServer(t)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-form")
	tab.Wait(`p.state === "open"`)

	tab.Do("fill in and send the publish form",
		chromedp.SetValue(chromedp.ID("pub-topic"), "e2e-form"),
		chromedp.SetValue(chromedp.ID("pub-event"), "update"),
		chromedp.SetValue(chromedp.ID("pub-data"), `{"from":"form"}`),
		chromedp.Click(chromedp.CSS("#publish-form button[type=submit]")),
	)
	p := tab.Wait(`p.events.length >= 1`)
	require.Len(t, p.Events, 1, "%s", p)
	require.Equal(t, "update", p.Events[0].Event)
	require.Equal(t, `{"from":"form"}`, p.Events[0].Data)
	result := chromium.WaitFor[string](tab.Tab, Bound, "a publish result", `(() => {
		const r = document.getElementById("pub-result").textContent;
		return r.startsWith("published ") && r; })()`)
	require.Equal(t, "published "+p.Events[0].ID, result)
}

func TestPageShowsResetForIDServerLacks(t *testing.T) {
	cases := []struct {
		name, lastID, reason string
	}{
		{"older than history", "1-0", "history-gone"},
		{"not an id", "no-such-id", "unknown-id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			tab := NewTab(t)
			tab.Open(srv.URL + "/static/index.html?topic=e2e-stale&lastEventId=" + tc.lastID)
			p := tab.Wait(`p.state === "open" && p.resetReason !== ""`)
			require.Equal(t, tc.reason, p.ResetReason, "%s", p)
			require.Contains(t, p.Reset, "Events may be missing")
			require.Contains(t, p.Reset, tc.lastID)
			require.Len(t, p.Events, 1, "%s", p)
			require.Equal(t, "reset", p.Events[0].Event)
			require.Empty(t, p.Events[0].ID, "a reset has no id of its own")
			visible := chromium.Eval[bool](tab.Tab, `document.getElementById("reset").getClientRects().length > 0`)
			require.True(t, visible, "the reset notice is on screen")

			req := tab.Net.WaitStream(t, "with lastEventId", func(r chromium.Request) bool { return r.URL != "" })
			require.Contains(t, req.URL, "lastEventId="+tc.lastID)

			want := publishN(t, srv.URL, "e2e-stale", 1)
			p = tab.Wait(`p.events.length >= 2`)
			require.Equal(t, want, p.Events[1:], "live events follow the reset: %s", p)
		})
	}
}

func TestPageTopicPickerSwitchesTopic(t *testing.T) {
	srv := startServer(t)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-a")
	tab.Wait(`p.state === "open" && p.subscribed === "e2e-a"`)
	publishN(t, srv.URL, "e2e-a", 1)
	tab.Wait(`p.events.length === 1`)

	tab.Do("pick topic e2e-b",
		chromedp.SetValue(chromedp.ID("topics"), "e2e-b"),
		chromedp.Click(chromedp.CSS("#topics-form button[type=submit]")),
	)
	p := tab.Wait(`p.state === "open" && p.subscribed === "e2e-b"`)
	require.Empty(t, p.Events, "a new subscription starts a new list")
	require.Zero(t, p.Reconnects, "switching topics is not a reconnect")

	// The stream is ordered: had the e2e-a event come through, it would be
	// on the page before the e2e-b one.
	publishN(t, srv.URL, "e2e-a", 1)
	want := publishN(t, srv.URL, "e2e-b", 1)
	p = tab.Wait(`p.events.length >= 1`)
	require.Equal(t, want, p.Events, "only the picked topic's events: %s", p)
}

// TestPageRetriesAfterServerRefuses: the browser gives up on a stream for
// good after a 503 (here: the server holds its one allowed stream); the page
// shows the refusal with its Retry-After, as such and not as reconnecting,
// and opens a new stream by itself once the server has room.
func TestPageRetriesAfterServerRefuses(t *testing.T) {
	srv := testkit.StartDefault(t, "MaxClients: 1\nRetry: 2s")
	held := testkit.Open(t, srv.URL+"/sse?topic=e2e-full", nil)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-full")
	p := tab.Wait(`p.state === "closed" && p.refusedStatus === 503`)
	require.Contains(t, p.Refused, "too_many_clients", "%s", p)
	require.Contains(t, p.Refused, "Trying again in 2 s", "%s", p)

	held.Close()
	p = tab.Wait(`p.state === "open"`)
	require.Empty(t, p.Refused, "%s", p)
	tab.Net.WaitStreams(t, "after the refused one", func(rs []chromium.Request) bool { return len(rs) >= 2 })
	want := publishN(t, srv.URL, "e2e-full", 1)
	p = tab.Wait(`p.events.length >= 1`)
	require.Equal(t, want, p.Events, "%s", p)
	require.Zero(t, p.Reconnects, "the first stream that opens is not a reconnect")
}

// TestPageListIsCapped: the page keeps the newest 200 events, so a busy
// topic cannot grow it without end.
func TestPageListIsCapped(t *testing.T) {
	const shown = 200
	srv := startServer(t)
	tab := NewTab(t)
	tab.Open(srv.URL + "/static/index.html?topic=e2e-many")
	tab.Wait(`p.state === "open"`)

	want := publishN(t, srv.URL, "e2e-many", shown+10)
	p := tab.Wait(fmt.Sprintf(`p.events.length > 0 && p.events[p.events.length - 1].id === %q`, want[len(want)-1].ID))
	require.Equal(t, want[10:], p.Events, "the newest %d, in order", shown)
	require.Equal(t, strconv.Itoa(shown+10), chromium.Eval[string](tab.Tab, `document.getElementById("count").textContent`))
}

// publishN publishes n "update" events on topic and returns them as the page
// shows them.
func publishN(t *testing.T, base, topic string, n int) []Event {
	t.Helper()
	out := make([]Event, 0, n)
	for i := range n {
		data := fmt.Sprintf(`{"topic":%q,"n":%d}`, topic, i)
		id := testkit.Publish(t, base, topic, "update", data)
		out = append(out, Event{Event: "update", ID: id, Data: data})
	}
	return out
}
