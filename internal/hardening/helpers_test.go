package hardening

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/auth"
	"ssehub/internal/config"
	"ssehub/internal/testkit"
)

const secret = "hardening-test-secret-0123456789abcdef"

// authYAML turns Auth on with secret; extra lines go under Auth.
func authYAML(extra string) string {
	return "Auth:\n  Enabled: true\n  Secret: " + secret + "\n" + extra
}

func authConfig(t *testing.T, sse string) config.Config {
	t.Helper()
	return testkit.Config(t, sse, authYAML(""))
}

func token(t *testing.T, sub, pub []string) string {
	t.Helper()
	tok, err := auth.Mint(secret, "tester", auth.Grants{Subscribe: sub, Publish: pub}, time.Hour)
	require.NoError(t, err)
	return tok
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// do sends one request, bounded in time, and returns the response with its
// body read.
func do(t *testing.T, method, url string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if _, set := req.Header["Content-Type"]; body != "" && !set {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, out
}

// requireAPIError checks status and the JSON {"code","message"} body.
func requireAPIError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, string(body))
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	require.Equal(t, code, e.Code, string(body))
	require.NotEmpty(t, e.Message)
}

// publishAs publishes with header and returns the status and body.
func publishAs(t *testing.T, base string, header http.Header, topic string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodPost, base+"/publish", header, `{"topic":"`+topic+`","data":1}`)
}

const authRejects = `ssehub_clients_disconnected_total{reason="auth"}`
