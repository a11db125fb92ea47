package chromium

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Tab is one browser tab; it records the page's uncaught exceptions (a test
// fails on any) and its /sse requests.
type Tab struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	Net    *NetLog
	// Describe, if set, says what the page shows, for a wait that timed out.
	Describe func() string

	mu         sync.Mutex
	exceptions []string
}

// NewTab opens a tab in the shared browser and closes it at cleanup.
func NewTab(t *testing.T) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(requireBrowser(t))
	tab := &Tab{t: t, ctx: ctx, cancel: cancel}
	// Subscriptions start when Events returns, before anything can happen.
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	tab.Net = newNetLog(ctx)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.exceptions = append(tab.exceptions, exceptionText(ev))
			tab.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			tab.saveFailure()
		}
		cancel()
		tab.mu.Lock()
		defer tab.mu.Unlock()
		if len(tab.exceptions) > 0 {
			t.Errorf("the page threw: %s", strings.Join(tab.exceptions, "; "))
		}
	})
	tab.Do("open the tab")
	return tab
}

// Close closes the tab, as a user would, and waits until it is gone.
func (tab *Tab) Close() {
	tab.t.Helper()
	if err := chromedp.Cancel(tab.ctx); err != nil {
		tab.t.Fatalf("close the tab: %v", err)
	}
}

func exceptionText(ev runtime.EventExceptionThrown) string {
	d := ev.ExceptionDetails
	if d == nil {
		return "unknown exception"
	}
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}

// T is the test the tab belongs to.
func (tab *Tab) T() *testing.T {
	return tab.t
}

// Context is the tab's context, for subscribing to its DevTools events; it
// ends when the tab closes.
func (tab *Tab) Context() context.Context {
	return tab.ctx
}

// Bounded returns the tab's context cut off after d; cancelling it does not
// close the tab.
func (tab *Tab) Bounded(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(tab.ctx, d)
}

// Do runs actions within Bound and fails the test, saying what for, on error.
func (tab *Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := tab.Bounded(Bound)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression within Bound.
func Eval[T any](tab *Tab, expression string) T {
	tab.t.Helper()
	ctx, cancel := tab.Bounded(Bound)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		tab.t.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// Open navigates to url and waits for the page to load.
func (tab *Tab) Open(url string) {
	tab.t.Helper()
	tab.Do("open "+url, chromedp.Navigate(url))
}

// WaitFor waits up to d until expression, described by what, is truthy and
// returns its value. It is checked at once and then on every change of the
// DOM, so it sees each state the page passes through.
func WaitFor[T any](tab *Tab, d time.Duration, what, expression string) T {
	tab.t.Helper()
	ctx, cancel := tab.Bounded(d + time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expression,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(d)))
	if err != nil {
		now := "unreadable"
		if errors.Is(err, chromedp.ErrPollingTimeout) && tab.Describe != nil {
			now = tab.Describe()
		}
		tab.t.Fatalf("the page did not reach %s within %v: %v\npage now: %s", what, d, err, now)
	}
	return v
}

// Screenshot captures the viewport as PNG.
func (tab *Tab) Screenshot(what string) []byte {
	tab.t.Helper()
	shot, err := tab.capture()
	if err != nil {
		tab.t.Fatalf("screenshot %s: %v", what, err)
	}
	return shot
}

func (tab *Tab) capture() ([]byte, error) {
	ctx, cancel := tab.Bounded(Bound)
	defer cancel()
	return chromedp.Run(ctx, chromedp.CaptureScreenshot())
}

// SaveArtifact writes data under the artifacts directory: $ARTIFACTS_DIR,
// else artifacts/ at the repository root (gitignored).
func (tab *Tab) SaveArtifact(name string, data []byte) {
	tab.t.Helper()
	path, err := writeArtifact(name, data)
	if err != nil {
		tab.t.Fatalf("save %s: %v", name, err)
	}
	tab.t.Logf("wrote %s", path)
}

// saveFailure keeps a picture of the page a failed test left behind.
func (tab *Tab) saveFailure() {
	name := "failed-" + strings.NewReplacer("/", "_", " ", "_").Replace(tab.t.Name()) + ".png"
	shot, err := tab.capture()
	if err == nil {
		_, err = writeArtifact(name, shot)
	}
	if err != nil {
		tab.t.Logf("no screenshot of the failure: %v", err)
	}
}

func writeArtifact(name string, data []byte) (string, error) {
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("artifacts dir: %w", err)
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, data, 0o644)
}
