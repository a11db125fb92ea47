package chromium

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Request is one request of the page as DevTools reported it: the URL from
// requestWillBeSent, the headers from requestWillBeSentExtraInfo, which are
// the ones the network stack put on the wire (Last-Event-ID is among those,
// not among the page's own).
type Request struct {
	ID      string
	URL     string
	Headers map[string]string
}

// Header returns the value of the named header as sent, any case.
func (r Request) Header(name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// NetLog records a tab's requests from the DevTools network events.
type NetLog struct {
	mu      sync.Mutex
	byID    map[network.RequestID]*Request
	order   []network.RequestID
	changed chan struct{} // closed and replaced on every change
}

func newNetLog(ctx context.Context) *NetLog {
	l := &NetLog{byID: map[network.RequestID]*Request{}, changed: make(chan struct{})}
	sent := chromedp.Events(ctx, network.RequestWillBeSent)
	extra := chromedp.Events(ctx, network.RequestWillBeSentExtraInfo)
	go func() {
		for ev, err := range sent {
			if err != nil {
				return
			}
			l.record(ev.RequestID, func(r *Request) { r.URL = ev.Request.URL })
		}
	}()
	go func() {
		for ev, err := range extra {
			if err != nil {
				return
			}
			l.record(ev.RequestID, func(r *Request) { copyHeaders(r.Headers, ev.Headers) })
		}
	}()
	return l
}

// record updates the request with id; the two events come in either order.
func (l *NetLog) record(id network.RequestID, update func(*Request)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.byID[id]
	if !ok {
		r = &Request{ID: string(id), Headers: map[string]string{}}
		l.byID[id] = r
		l.order = append(l.order, id)
	}
	update(r)
	close(l.changed)
	l.changed = make(chan struct{})
}

func copyHeaders(dst map[string]string, src network.Headers) {
	for k, v := range src {
		dst[k] = fmt.Sprint(v)
	}
}

// Streams returns the /sse requests so far, in the order they were made.
func (l *NetLog) Streams() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Request
	for _, id := range l.order {
		r := l.byID[id]
		if isStream(r.URL) {
			out = append(out, Request{ID: r.ID, URL: r.URL, Headers: maps.Clone(r.Headers)})
		}
	}
	return out
}

// isStream says whether raw is an /sse URL (not, say, /static/ssehub.js).
func isStream(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Path == "/sse"
}

// WaitStream waits up to Bound for an /sse request that match accepts.
func (l *NetLog) WaitStream(t *testing.T, what string, match func(Request) bool) Request {
	t.Helper()
	var found Request
	l.WaitStreams(t, what, func(rs []Request) bool {
		for _, r := range rs {
			if match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// WaitStreams waits up to Bound until ok accepts the /sse requests so far,
// and returns them.
func (l *NetLog) WaitStreams(t *testing.T, what string, ok func([]Request) bool) []Request {
	t.Helper()
	deadline := time.After(Bound)
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if rs := l.Streams(); ok(rs) {
			return rs
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no /sse requests %s within %v; requests: %+v", what, Bound, l.Streams())
		}
	}
}
