package testkit

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// WaitReady waits until /readyz at base says ready (or, with ready false,
// not ready).
func WaitReady(t testing.TB, base string, ready bool) {
	t.Helper()
	want := http.StatusOK
	if !ready {
		want = http.StatusServiceUnavailable
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == want
	}, Wait, 10*time.Millisecond, "readyz of %s never answered %d", base, want)
}
