package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/rest"

	"ssehub/internal/config"
	"ssehub/internal/redistest"
	"ssehub/internal/testkit"
)

// writeConfig writes a server config on every interface at port.
func writeConfig(t *testing.T, port int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssehub.yaml")
	yaml := fmt.Sprintf("Name: hc\nHost: 0.0.0.0\nPort: %d\nLog:\n  Mode: console\n  Level: severe\n  Stat: false\n"+
		"Sse:\n  TickInterval: 1h\n", port)
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

func TestRunPassesAgainstTheConfiguredServer(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, redistest.FreePort(t))
	var c config.Config
	require.NoError(t, conf.Load(path, &c))
	inst := testkit.Start(t, c)
	testkit.WaitReady(t, inst.URL, true)
	require.NoError(t, Run(path))
}

func TestRunFailsWhenNothingListens(t *testing.T) {
	t.Parallel()
	require.ErrorContains(t, Run(writeConfig(t, redistest.FreePort(t))), "connection refused")
}

func TestRunFailsWithoutConfig(t *testing.T) {
	t.Parallel()
	require.ErrorContains(t, Run(filepath.Join(t.TempDir(), "missing.yaml")), "missing.yaml")
}

func TestCheckFailsOnAnythingButOK(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	require.ErrorContains(t, Check(context.Background(), srv.URL+"/healthz"), "answered 503")
}

// TestCheckFailsOnAHungServer: a server that accepts but never answers (a
// stopped process: the kernel still completes the handshake) fails by the
// deadline instead of hanging the probe.
func TestCheckFailsOnAHungServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, Check(ctx, "http://"+l.Addr().String()+"/healthz"), context.DeadlineExceeded)
	require.Less(t, time.Since(start), Timeout)
}

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host, cert, want string
	}{
		{"0.0.0.0", "", "http://127.0.0.1:8080/healthz"},
		{"", "", "http://127.0.0.1:8080/healthz"},
		{"::", "", "http://[::1]:8080/healthz"},
		{"10.1.2.3", "", "http://10.1.2.3:8080/healthz"},
		{"0.0.0.0", "/tls/cert.pem", "https://127.0.0.1:8080/healthz"},
	} {
		c := rest.RestConf{Host: tc.host, Port: 8080, CertFile: tc.cert}
		require.Equal(t, tc.want, URL(c), "host %q cert %q", tc.host, tc.cert)
	}
}
