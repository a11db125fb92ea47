package hardening

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"ssehub/internal/server"
	"ssehub/internal/testkit"
)

const allowed = "https://app.example"

func corsServer(t *testing.T) *testkit.Instance {
	t.Helper()
	return testkit.Start(t, testkit.Config(t, "", authYAML("")+"Cors:\n  Origins: ["+allowed+", http://localhost:3000]\n"))
}

func preflight(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	resp, _ := do(t, http.MethodOptions, url, http.Header{
		"Origin":                         {origin},
		"Access-Control-Request-Method":  {http.MethodPost},
		"Access-Control-Request-Headers": {"authorization, content-type"},
	}, "")
	return resp
}

// requireNoCors checks that no Access-Control-* header was sent.
func requireNoCors(t *testing.T, h http.Header) {
	t.Helper()
	for k := range h {
		require.False(t, strings.HasPrefix(k, "Access-Control-"), "unexpected %s: %s", k, h.Get(k))
	}
}

func TestPreflightForListedOrigin(t *testing.T) {
	t.Parallel()
	inst := corsServer(t)
	for _, path := range []string{"/publish", "/tickets"} {
		resp := preflight(t, inst.URL+path, allowed)
		require.Equal(t, http.StatusNoContent, resp.StatusCode, path)
		h := resp.Header
		require.Equal(t, allowed, h.Get("Access-Control-Allow-Origin"), path)
		require.Equal(t, "true", h.Get("Access-Control-Allow-Credentials"), path)
		require.Contains(t, h.Get("Access-Control-Allow-Methods"), http.MethodPost, path)
		require.Contains(t, strings.Join(h.Values("Access-Control-Allow-Headers"), ","), "Authorization", path)
		require.Contains(t, h.Values("Vary"), "Origin", path)
	}
}

func TestPreflightForUnlistedOriginGetsNoCors(t *testing.T) {
	t.Parallel()
	inst := corsServer(t)
	for _, origin := range []string{"https://evil.example", "https://app.example.evil", "http://app.example", "null"} {
		requireNoCors(t, preflight(t, inst.URL+"/publish", origin).Header)
	}
}

func TestStreamCorsOnlyForListedOrigin(t *testing.T) {
	t.Parallel()
	inst := corsServer(t)
	tok := token(t, []string{"news"}, nil)
	h := bearer(tok)
	h.Set("Origin", allowed)
	s := testkit.Open(t, inst.URL+"/sse?topic=news", h)
	require.Equal(t, allowed, s.Resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", s.Resp.Header.Get("Access-Control-Allow-Credentials"))

	h.Set("Origin", "https://evil.example")
	s = testkit.Open(t, inst.URL+"/sse?topic=news", h)
	requireNoCors(t, s.Resp.Header)
}

func TestCorsErrorsStayJSON(t *testing.T) {
	t.Parallel()
	inst := corsServer(t)
	resp, body := do(t, http.MethodPut, inst.URL+"/publish", http.Header{"Origin": {allowed}}, "")
	requireAPIError(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed")
	require.Equal(t, allowed, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestNoOriginsMeansNoCors(t *testing.T) {
	t.Parallel()
	inst := testkit.StartDefault(t, "")
	requireNoCors(t, preflight(t, inst.URL+"/publish", allowed).Header)
	resp, _ := do(t, http.MethodGet, inst.URL+"/healthz", http.Header{"Origin": {allowed}}, "")
	requireNoCors(t, resp.Header)
}

func TestWildcardOriginIsAConfigError(t *testing.T) {
	t.Parallel()
	for _, o := range []string{"'*'", "https://*.example", "app.example", "https://app.example/", "https://app.example/x"} {
		_, err := newServer(testkit.Config(t, "", "Cors:\n  Origins: ["+o+"]\n"))
		require.ErrorIs(t, err, server.ErrBadOrigin, o)
	}
}
