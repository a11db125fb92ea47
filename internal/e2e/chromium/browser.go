// Package chromium drives a real headless Chromium through the DevTools
// protocol (chromedp) for the browser tests (internal/e2e).
//
// One browser serves the whole test binary; every test gets its own tab.
// Without Chromium the tests skip, except when CI=true, where they fail.
package chromium

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ssehub/internal/testkit/need"
)

// Bound caps every wait on the browser; a wait that reaches it is a failure.
const Bound = 15 * time.Second

// launchBound caps the browser's start, which is slow on a loaded machine.
const launchBound = 60 * time.Second

var errNoChromium = errors.New("chromium not found: set CHROMIUM or install it (apt-get install chromium)")

var shared struct {
	once    sync.Once
	ctx     context.Context
	cancel  func()
	dataDir string
	err     error
}

// chromiumPath is $CHROMIUM, else chromium on PATH, else Debian's /usr/bin/chromium.
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%w: CHROMIUM=%s: %w", errNoChromium, p, err)
		}
		return found, nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("/usr/bin/chromium"); err == nil {
		return p, nil
	}
	return "", errNoChromium
}

// flags run Chromium at path headless, with its profile in dir.
func flags(path, dir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		// Every test's tab must run its timers and streams at full speed.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.WindowSize(1280, 1000),
	}
}

// browser starts the shared browser once, with a fresh profile directory.
func browser() (context.Context, error) {
	shared.once.Do(func() {
		path, err := chromiumPath()
		if err != nil {
			shared.err = err
			return
		}
		dir, err := os.MkdirTemp("", "ssehub-chromium-")
		if err != nil {
			shared.err = fmt.Errorf("profile dir: %w", err)
			return
		}
		shared.dataDir = dir
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), flags(path, dir)...)
		ctx, cancelBrowser := chromedp.NewContext(allocCtx)
		shared.ctx = ctx
		shared.cancel = func() { cancelBrowser(); cancelAlloc() }
		// The first action starts the browser, whose life is tied to the
		// context of that action, so it cannot carry a timeout itself.
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(ctx) }()
		select {
		case err = <-started:
		case <-time.After(launchBound):
			err = fmt.Errorf("chromium did not start within %v", launchBound)
		}
		if err != nil {
			shared.err = fmt.Errorf("start %s: %w", path, err)
			shared.cancel()
		}
	})
	return shared.ctx, shared.err
}

// Shutdown closes the shared browser and removes its profile; TestMain calls it.
func Shutdown() {
	if shared.cancel != nil {
		shared.cancel()
	}
	if shared.dataDir != "" {
		_ = os.RemoveAll(shared.dataDir)
	}
}

// requireBrowser returns the shared browser, skipping the test when there is
// no Chromium outside CI.
func requireBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx, err := browser()
	switch {
	case errors.Is(err, errNoChromium):
		need.Missing(t, "browser tests need Chromium: %v", err)
	case err != nil:
		t.Fatalf("browser tests need Chromium: %v", err)
	}
	return ctx
}
