package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"ssehub/internal/e2e/chromium"
)

// Bound caps every wait on the browser; a wait that reaches it is a failure.
const Bound = chromium.Bound

// Tab is a browser tab showing the ssehub page.
type Tab struct {
	*chromium.Tab
}

// NewTab opens a tab in the shared browser and closes it at cleanup.
func NewTab(t *testing.T) *Tab {
	t.Helper()
	tab := &Tab{chromium.NewTab(t)}
	tab.Describe = func() string { return tab.Page().String() }
	return tab
}

// Page reads the page as it is now.
func (tab *Tab) Page() Page {
	tab.T().Helper()
	return chromium.Eval[Page](tab.Tab, snapshotJS)
}

// Wait waits up to Bound until cond, a JavaScript expression over the page
// snapshot `p`, holds, and returns that snapshot.
func (tab *Tab) Wait(cond string) Page {
	tab.T().Helper()
	return tab.WaitWithin(Bound, cond)
}

// WaitWithin is Wait with its own bound.
func (tab *Tab) WaitWithin(d time.Duration, cond string) Page {
	tab.T().Helper()
	return chromium.WaitFor[Page](tab.Tab, d, cond, "((p) => ("+cond+") ? p : null)("+snapshotJS+")")
}

// Page is what the page shows, read from the DOM by snapshotJS.
type Page struct {
	State       string `json:"state"`
	Subscribed  string `json:"subscribed"`
	LastID      string `json:"lastId"`
	Reconnects  int    `json:"reconnects"`
	Reset       string `json:"reset"`
	ResetReason string `json:"resetReason"`
	// Role is the client's: "single", "leader" or "follower" (shared stream).
	Role string `json:"role"`
	// Refused is the refusal notice, RefusedStatus its HTTP status.
	Refused       string  `json:"refused"`
	RefusedStatus int     `json:"refusedStatus"`
	TokenNeeded   bool    `json:"tokenNeeded"`
	Events        []Event `json:"events"`
}

// Event is one row of the page's event list.
type Event struct {
	Event string `json:"event"`
	ID    string `json:"id"`
	Data  string `json:"data"`
}

// Of returns the events of the given type, oldest first.
func (p Page) Of(event string) []Event {
	var out []Event
	for _, e := range p.Events {
		if e.Event == event {
			out = append(out, e)
		}
	}
	return out
}

func (p Page) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "state=%s topics=%q lastId=%s reconnects=%d role=%s", p.State, p.Subscribed, p.LastID,
		p.Reconnects, p.Role)
	if p.Refused != "" {
		fmt.Fprintf(&b, " refused=%q", p.Refused)
	}
	if p.Reset != "" {
		fmt.Fprintf(&b, " reset=%q", p.Reset)
	}
	for _, e := range p.Events {
		fmt.Fprintf(&b, "\n  %s id=%s data=%s", e.Event, e.ID, e.Data)
	}
	return b.String()
}

// snapshotJS reads the page through the element ids the tests rely on; the
// list shows the newest first, the snapshot has the oldest first.
const snapshotJS = `(() => {
  const $ = (id) => document.getElementById(id);
  const reset = $("reset"), refused = $("refused");
  return {
    state: $("state").dataset.state,
    subscribed: $("subscribed").textContent,
    lastId: $("last-id").textContent,
    reconnects: Number($("reconnects").textContent),
    reset: reset.hidden ? "" : reset.textContent,
    resetReason: reset.hidden ? "" : (reset.dataset.reason || ""),
    role: $("role").dataset.role || "",
    refused: refused.hidden ? "" : refused.textContent,
    refusedStatus: refused.hidden ? 0 : Number(refused.dataset.status),
    tokenNeeded: !$("token-card").hidden,
    events: Array.from($("events").children).reverse()
      .map((li) => ({ event: li.dataset.event, id: li.dataset.id, data: li.dataset.data })),
  };
})()`
