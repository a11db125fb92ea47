package hardening

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/testkit"
)

// logCapture is an io.Writer for logx that lets a test wait for a line.
type logCapture struct {
	mu      sync.Mutex
	buf     strings.Builder
	changed chan struct{}
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor waits until the log holds want n times.
func (c *logCapture) waitFor(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.After(testkit.Wait)
	for strings.Count(c.String(), want) < n {
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("log never held %q %d times:\n%s", want, n, c.String())
		}
	}
}

// captureLogs sends logx output at info level to a buffer until the test
// ends. Not parallel: the writer and level are process-wide.
func captureLogs(t *testing.T) *logCapture {
	c := &logCapture{changed: make(chan struct{}, 1)}
	old := logx.Reset()
	logx.SetLevel(logx.InfoLevel)
	logx.SetWriter(logx.NewWriter(c))
	t.Cleanup(func() {
		logx.SetLevel(logx.ErrorLevel)
		logx.SetWriter(old)
	})
	return c
}

// TestAccessLogHoldsNoCredentials covers every way a credential reaches the
// access log: the URI of a stream (logged when it ends) and of a refused
// ticket, and the full request dump go-zero writes for a 5xx.
func TestAccessLogHoldsNoCredentials(t *testing.T) {
	inst := testkit.Start(t, authConfig(t, "MaxClientsPerIP: 1"))
	logs := captureLogs(t)
	tok := token(t, []string{"news"}, []string{"news"})
	tk := ticket(t, inst.URL, tok)

	s := testkit.Open(t, inst.URL+"/sse?topic=news&ticket="+tk, nil)
	s.Next(t)
	// The address holds its one stream: 503, which go-zero logs with every header.
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=news",
		http.Header{"Authorization": {"Bearer " + tok}, "Cookie": {"ssehub_token=" + tok}}, "")
	requireAPIError(t, resp, body, http.StatusServiceUnavailable, "too_many_streams")
	s.Close()
	logs.waitFor(t, "/sse?topic=news&ticket=REDACTED", 1)

	// The address's slot frees once the server has noticed the close (a
	// taken-over stream ends after its access-log line), so a spent ticket
	// may still meet the cap for a moment before it meets the 401.
	require.Eventually(t, func() bool { return inst.Svc.Hub.Len() == 0 }, testkit.Wait, time.Millisecond)
	deadline := time.Now().Add(testkit.Wait)
	for {
		resp, body = do(t, http.MethodGet, inst.URL+"/sse?topic=news&ticket="+tk, nil, "")
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	logs.waitFor(t, "/sse?topic=news&ticket=REDACTED", 2)
	logs.waitFor(t, "Authorization: REDACTED", 1)
	logs.waitFor(t, "ssehub_token=REDACTED", 1)

	out := logs.String()
	require.NotContains(t, out, tk)
	require.NotContains(t, out, tok)
	// The signature alone would let no one in, but no part of it belongs in a log.
	require.NotContains(t, out, tok[strings.LastIndexByte(tok, '.')+1:])
}

// TestAttackTicketAfterSemicolon: a ticket behind a ";" (which Go refuses as
// a separator, with 400 bad_query) is redacted in the access log too.
func TestAttackTicketAfterSemicolon(t *testing.T) {
	inst := testkit.Start(t, authConfig(t, ""))
	logs := captureLogs(t)
	const tk = "semicolon-ticket-0123456789"
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=news;ticket="+tk+";x=1", nil, "")
	requireAPIError(t, resp, body, http.StatusBadRequest, "bad_query")
	logs.waitFor(t, "/sse?topic=news;ticket=REDACTED;x=1", 1)
	require.NotContains(t, logs.String(), tk)
}

// TestAttackSecondCookieHeader: the auth cookie in a second Cookie header is
// redacted in go-zero's dump of a 5xx request like one in the first.
func TestAttackSecondCookieHeader(t *testing.T) {
	inst := testkit.Start(t, authConfig(t, "MaxClientsPerIP: 1"))
	logs := captureLogs(t)
	tok := token(t, []string{"news"}, nil)
	testkit.Open(t, inst.URL+"/sse?topic=news", bearer(tok)).Next(t)
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=news",
		http.Header{"Cookie": {"a=1", "ssehub_token=" + tok}}, "")
	requireAPIError(t, resp, body, http.StatusServiceUnavailable, "too_many_streams")
	logs.waitFor(t, "ssehub_token=REDACTED", 1)
	out := logs.String()
	require.NotContains(t, out, tok)
	require.NotContains(t, out, tok[strings.LastIndexByte(tok, '.')+1:])
}
