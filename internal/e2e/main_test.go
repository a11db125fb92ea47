package e2e

import (
	"os"
	"ssehub/internal/e2e/chromium"
	"testing"
)

// TestMain closes the shared browser. The tests run one at a time, not in
// parallel: they share that browser on a small machine, and each one's waits
// are bounded for one page at work.
func TestMain(m *testing.M) {
	code := m.Run()
	chromium.Shutdown()
	os.Exit(code)
}
