package testkit

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ProcessYAML is a config for ssehub as a child process on port (0 for a
// free one): plain info logs, as StartProcess needs, a 1 s shutdown wait,
// publishing open; sse lines go under Sse and extra at the top level.
func ProcessYAML(name string, port int, sse, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name: %s\nHost: 127.0.0.1\nPort: %d\n", name, port)
	b.WriteString("Log:\n  Mode: console\n  Encoding: plain\n  Level: info\n  Stat: false\n")
	b.WriteString("Shutdown:\n  WrapUpTime: 200ms\n  WaitTime: 5s\n")
	b.WriteString("Sse:\n  PublishOpen: true\n" + indent(sse))
	b.WriteString(extra)
	return b.String()
}

// RedisYAML is a process config in Redis mode on addr.
func RedisYAML(name, addr, sse string) string {
	return ProcessYAML(name, 0, sse, fmt.Sprintf("Redis:\n  Addr: %s\n  KeyPrefix: scale\n", addr))
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
