package e2e

import (
	"context"
	"fmt"
	"ssehub/internal/e2e/chromium"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// handOverBound is how soon another tab must lead after the leader closes.
const handOverBound = 5 * time.Second

// openTabs opens n tabs of the page at url and waits until each is open.
func openTabs(t *testing.T, n int, url string) []*Tab {
	t.Helper()
	tabs := make([]*Tab, n)
	for i := range tabs {
		tabs[i] = NewTab(t)
		tabs[i].Open(url)
		tabs[i].Wait(`p.state === "open"`)
	}
	return tabs
}

// leaderOf returns the index of the one tab that leads; every other follows.
func leaderOf(t *testing.T, tabs []*Tab) int {
	t.Helper()
	leader := -1
	for i, tab := range tabs {
		switch p := tab.Page(); p.Role {
		case "leader":
			require.Equal(t, -1, leader, "two leaders: tabs %d and %d", leader, i)
			leader = i
		case "follower":
		default:
			t.Fatalf("tab %d is neither leader nor follower: %s", i, p)
		}
	}
	require.NotEqual(t, -1, leader, "no tab leads")
	return leader
}

// requireShown waits until every tab shows exactly want, in order.
func requireShown(t *testing.T, tabs []*Tab, want []Event) {
	t.Helper()
	last := want[len(want)-1].ID
	for i, tab := range tabs {
		p := tab.Wait(fmt.Sprintf(`p.events.length > 0 && p.events[p.events.length - 1].id === %q`, last))
		require.Equal(t, want, p.Events, "tab %d: every event once, in order: %s", i, p)
	}
}

// TestPageTabsShareOneStream: eight tabs of the page over plain HTTP/1.1,
// which would hang the seventh with a stream each, hold one stream between
// them; every tab shows every event, and a ninth tab opens at once.
func TestPageTabsShareOneStream(t *testing.T) {
	const topic = "e2e-shared"
	srv := startServer(t)
	url := srv.URL + "/static/index.html?topic=" + topic
	tabs := openTabs(t, 8, url)
	leaderOf(t, tabs)
	requireClients(t, srv.URL, 1)

	want := publishN(t, srv.URL, topic, 5)
	requireShown(t, tabs, want)

	ninth := NewTab(t)
	start := time.Now()
	ninth.Open(url)
	p := ninth.WaitWithin(tickBound, `p.state === "open"`)
	t.Logf("the ninth tab was open %v after it started loading", time.Since(start).Round(time.Millisecond))
	require.Equal(t, "follower", p.Role, "%s", p)
	more := publishN(t, srv.URL, topic, 2)
	requireShown(t, []*Tab{ninth}, more)
	requireShown(t, tabs, append(want, more...))
	require.Equal(t, 1, clients(srv.URL), "still one stream for nine tabs")
}

// TestPageLeaderHandOver closes the leading tab: another tab leads within a
// few seconds and resumes from the last id the group saw. Its stream is held
// in DevTools until three more events are published, so they are replayed on
// every run, not only when the timing is kind; every remaining tab then shows
// every event once, in order.
func TestPageLeaderHandOver(t *testing.T) {
	const topic = "e2e-handover"
	srv := startServer(t)
	tabs := openTabs(t, 3, srv.URL+"/static/index.html?topic="+topic)
	want := publishN(t, srv.URL, topic, 2)
	requireShown(t, tabs, want)

	leader := leaderOf(t, tabs)
	old := tabs[leader]
	tabs = append(tabs[:leader:leader], tabs[leader+1:]...)
	a, b := holdStreams(t, tabs[0]), holdStreams(t, tabs[1])
	closed := time.Now()
	old.Close()
	var next *Tab
	var req fetch.EventRequestPaused
	select {
	case req = <-a:
		next = tabs[0]
	case req = <-b:
		next = tabs[1]
	case <-time.After(handOverBound):
		t.Fatalf("no tab took the lead within %v", handOverBound)
	}
	t.Logf("a new leader opened its stream %v after the old one closed", time.Since(closed).Round(time.Millisecond))
	require.Contains(t, req.Request.URL, "lastEventId="+want[1].ID, "the new leader resumes after the group's last id")
	want = append(want, publishN(t, srv.URL, topic, 3)...)
	release(t, next, req)

	want = append(want, publishN(t, srv.URL, topic, 2)...)
	requireShown(t, tabs, want)
	require.Equal(t, "leader", next.Page().Role)
	leaderOf(t, tabs)
	for i, tab := range tabs {
		p := tab.Wait(`p.state === "open"`)
		require.Equal(t, 1, p.Reconnects, "tab %d: the hand-over is one reconnect: %s", i, p)
	}
	requireClients(t, srv.URL, 1)
}

// TestPageTabsWithDifferentTopics: tabs on different topics share one
// stream on the union of their topics, and each shows only its own. A tab
// with a new topic makes the leader reopen the stream on the larger union,
// after the last id it delivered: the tabs already there miss nothing and
// see nothing twice.
func TestPageTabsWithDifferentTopics(t *testing.T) {
	srv := startServer(t)
	page := srv.URL + "/static/index.html?"
	x := openTabs(t, 1, page+"topic=e2e-x")[0]
	onX := publishN(t, srv.URL, "e2e-x", 2)
	requireShown(t, []*Tab{x}, onX)

	y := openTabs(t, 1, page+"topic=e2e-y")[0]
	xy := openTabs(t, 1, page+"topic=e2e-x&topic=e2e-y")[0]
	x2 := openTabs(t, 1, page+"topic=e2e-x")[0]
	leaderOf(t, []*Tab{x, y, xy, x2})
	var onY, both []Event
	for range 3 {
		ex := publishN(t, srv.URL, "e2e-x", 1)
		ey := publishN(t, srv.URL, "e2e-y", 1)
		onX, onY, both = append(onX, ex...), append(onY, ey...), append(both, append(ex, ey...)...)
	}
	requireShown(t, []*Tab{x}, onX)
	requireShown(t, []*Tab{x2}, onX[2:])
	requireShown(t, []*Tab{y}, onY)
	requireShown(t, []*Tab{xy}, both)
	requireClients(t, srv.URL, 1)
	reopened := x.Net.WaitStream(t, "on the union", func(r chromium.Request) bool {
		return strings.Contains(r.URL, "topic=e2e-x&topic=e2e-y")
	})
	require.Contains(t, reopened.URL, "&withTopic=1&lastEventId="+onX[1].ID,
		"the leader reopened on the union after the last id it had")
	require.Len(t, x.Net.Streams(), 2, "one reopen for three joins: %+v", x.Net.Streams())
}

// TestPageFrozenLeaderHandsOver freezes the leading tab (Page Lifecycle, as
// Chromium does to background tabs): it hands the lead on, another tab
// resumes the stream, and the frozen tab, once resumed, follows again and
// has every event once, in order.
func TestPageFrozenLeaderHandsOver(t *testing.T) {
	const topic = "e2e-freeze"
	srv := startServer(t)
	tabs := openTabs(t, 2, srv.URL+"/static/index.html?topic="+topic)
	want := publishN(t, srv.URL, topic, 1)
	requireShown(t, tabs, want)
	leader := leaderOf(t, tabs)
	frozen, other := tabs[leader], tabs[1-leader]

	setLifecycle(t, frozen, page.SetWebLifecycleStateStateFrozen)
	other.WaitWithin(handOverBound, `p.role === "leader" && p.state === "open"`)
	want = append(want, publishN(t, srv.URL, topic, 2)...)
	requireShown(t, []*Tab{other}, want)

	setLifecycle(t, frozen, page.SetWebLifecycleStateStateActive)
	p := frozen.Wait(`p.role === "follower" && p.state === "open"`)
	require.Equal(t, "follower", p.Role)
	want = append(want, publishN(t, srv.URL, topic, 1)...)
	requireShown(t, tabs, want)
	requireClients(t, srv.URL, 1)
}

func setLifecycle(t *testing.T, tab *Tab, state page.SetWebLifecycleStateState) {
	t.Helper()
	tab.Do("set the tab "+state.String(), func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Call(ctx, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: state})
		return chromedp.Void{}, err
	})
}
