// Package testkit starts real ssehub servers in-process on loopback ports
// for tests, reads their streams and metrics; process runs the real binary.
package testkit

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeromicro/go-zero/core/conf"

	"ssehub/internal/config"
	"ssehub/internal/server"
)

// BaseYAML is the config every test server starts from: a free port, quiet
// logs, publishing open.
const BaseYAML = `Name: ssehub-test
Host: 127.0.0.1
Port: 0
Log:
  Mode: console
  Level: severe
  Stat: false
Sse:
  PublishOpen: true
`

// loopbackOpen lifts the per-address limits: every test client comes from
// 127.0.0.1, so they would cap the test instead of a client. A test that
// sets one of them in sse keeps its own value.
var loopbackOpen = []string{"MaxClientsPerIP: 0", "PublishRate: 0"}

// Config parses BaseYAML with extra appended under the top level; keys under
// Sse go in sse (indented by the caller's text as "  Key: v" lines).
func Config(t testing.TB, sse string, extra string) config.Config {
	t.Helper()
	var c config.Config
	for _, line := range loopbackOpen {
		if key, _, _ := strings.Cut(line, ":"); !strings.Contains(sse, key+":") {
			sse += "\n" + line
		}
	}
	text := BaseYAML + Indent(sse) + extra
	require.NoError(t, conf.LoadFromYamlBytes([]byte(text), &c), text)
	return c
}

// Indent indents each line of s by two spaces, to nest it under a YAML key.
func Indent(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString("  " + strings.TrimSpace(l) + "\n")
	}
	return b.String()
}

// Instance is an in-process server.
type Instance struct {
	*server.Server
	URL string
}

// Start runs c in-process on a free loopback port and stops it at cleanup.
func Start(t testing.TB, c config.Config) *Instance {
	t.Helper()
	srv, err := server.New(c)
	require.NoError(t, err)
	addrs := make(chan net.Addr, 1)
	go srv.Start(func(a net.Addr) { addrs <- a })
	var addr net.Addr
	select {
	case addr = <-addrs:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start listening")
	}
	scheme := "http://"
	if c.CertFile != "" {
		scheme = "https://"
	}
	inst := &Instance{Server: srv, URL: scheme + addr.String()}
	t.Cleanup(srv.Stop)
	return inst
}

// StartDefault runs a server with BaseYAML plus the given Sse lines.
func StartDefault(t testing.TB, sse string) *Instance {
	t.Helper()
	return Start(t, Config(t, sse, ""))
}

// Get performs a GET with headers and a bound on the whole exchange.
func Get(t testing.TB, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// Publish posts one event and returns its id.
func Publish(t testing.TB, base, topic, event, data string) string {
	t.Helper()
	body := fmt.Sprintf(`{"topic":%q,"event":%q,"data":%s}`, topic, event, data)
	resp, err := http.Post(base+"/publish", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, decodeJSON(resp, &out))
	require.NotEmpty(t, out.ID)
	return out.ID
}
