package testkit

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RedisYAML is a process config in Redis mode on addr; sse lines go under
// Sse. It logs at info in plain text, as StartProcess needs.
func RedisYAML(name, addr, sse string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name: %s\nHost: 127.0.0.1\nPort: 0\n", name)
	b.WriteString("Log:\n  Mode: console\n  Encoding: plain\n  Level: info\n  Stat: false\n")
	b.WriteString("Sse:\n  PublishOpen: true\n" + indent(sse))
	fmt.Fprintf(&b, "Redis:\n  Addr: %s\n  KeyPrefix: scale\n", addr)
	return b.String()
}

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
