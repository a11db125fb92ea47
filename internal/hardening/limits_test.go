package hardening

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/testkit"
)

func TestStreamsPerIPAreCapped(t *testing.T) {
	t.Parallel()
	inst := testkit.StartDefault(t, "MaxClientsPerIP: 2")
	first := testkit.Open(t, inst.URL+"/sse?topic=a", nil)
	testkit.Open(t, inst.URL+"/sse?topic=a", nil)
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=a", nil, "")
	requireAPIError(t, resp, body, http.StatusServiceUnavailable, "too_many_streams")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	// A closed stream gives its slot back once the server has seen it go.
	first.Close()
	require.Eventually(t, func() bool {
		resp, err := http.Get(inst.URL + "/sse?topic=a")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, testkit.Wait, 20*time.Millisecond)
}

func TestPublishRateIsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	// One per hour after a burst of 3: nothing refills during the test.
	inst := testkit.StartDefault(t, "PublishRate: 0.0003\nPublishBurst: 3")
	for range 3 {
		resp, body := publishAs(t, inst.URL, nil, "a")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	}
	resp, body := publishAs(t, inst.URL, nil, "a")
	requireAPIError(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

func TestPublishRateIsLimitedPerToken(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, "PublishRate: 0.0003\nPublishBurst: 2"))
	a, b := token(t, nil, []string{"a"}), token(t, nil, []string{"*"})
	for range 2 {
		resp, body := publishAs(t, inst.URL, bearer(a), "a")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	}
	resp, body := publishAs(t, inst.URL, bearer(a), "a")
	requireAPIError(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	resp, body = publishAs(t, inst.URL, bearer(b), "a")
	require.Equal(t, http.StatusOK, resp.StatusCode, "another token has its own bucket: %s", body)
}

func TestTicketMintingIsRateLimited(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, "PublishRate: 0.0003\nPublishBurst: 1"))
	tok := token(t, []string{"a"}, nil)
	ticket(t, inst.URL, tok)
	resp, body := do(t, http.MethodPost, inst.URL+"/tickets", bearer(tok), "")
	requireAPIError(t, resp, body, http.StatusTooManyRequests, "rate_limited")
}

// requireDropped waits (bounded) for the server to close conn.
func requireDropped(t *testing.T, conn net.Conn) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(testkit.Wait)))
	_, err := io.ReadAll(conn)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the server kept the connection open")
}

func TestSlowHeaderConnectionIsDropped(t *testing.T) {
	t.Parallel()
	inst := testkit.StartDefault(t, "ReadHeaderTimeout: 200ms")
	conn, err := net.Dial("tcp", inst.URL[len("http://"):])
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("GET /sse HTTP/1.1\r\nHost: x\r\nX-Slow: "))
	require.NoError(t, err)
	requireDropped(t, conn)
}

func forwardedFor(ip string) http.Header {
	return http.Header{"X-Forwarded-For": {ip}}
}

func TestForwardedForCannotDodgeTheStreamCap(t *testing.T) {
	t.Parallel()
	inst := testkit.StartDefault(t, "MaxClientsPerIP: 1")
	testkit.Open(t, inst.URL+"/sse?topic=a", forwardedFor("198.51.100.1"))
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=a", forwardedFor("198.51.100.2"), "")
	requireAPIError(t, resp, body, http.StatusServiceUnavailable, "too_many_streams")
}

func TestStreamCapPerClientBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	inst := testkit.StartDefault(t, "MaxClientsPerIP: 1\nTrustedProxies: [127.0.0.1]")
	testkit.Open(t, inst.URL+"/sse?topic=a", forwardedFor("198.51.100.1"))
	testkit.Open(t, inst.URL+"/sse?topic=a", forwardedFor("198.51.100.2"))
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=a", forwardedFor("203.0.113.5, 198.51.100.1"), "")
	requireAPIError(t, resp, body, http.StatusServiceUnavailable, "too_many_streams")
}

// TestAttackTopicLabelFlood: a token for a whole subtree publishes to many
// new topics; only the first Sse.MetricTopics get their own series in
// /metrics, the rest are counted under one value.
func TestAttackTopicLabelFlood(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, "MetricTopics: 5"))
	tok := token(t, nil, []string{"flood/*"})
	const topics = 50
	for i := range topics {
		resp, body := publishAs(t, inst.URL, bearer(tok), "flood/"+strconv.Itoa(i))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	}
	resp, body := do(t, http.MethodGet, inst.URL+"/metrics", nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	series := 0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, `ssehub_events_published_total{topic="flood/`) {
			series++
		}
	}
	require.Equal(t, 5, series, "one series per labelled topic, no more")
	// Other tests in this process count under it too: at least ours.
	require.GreaterOrEqual(t, testkit.Metric(t, inst.URL, `ssehub_events_published_total{topic="(other)"}`), float64(topics-5))
}
