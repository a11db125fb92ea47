package system_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeromicro/go-zero/core/conf"

	"ssehub/internal/config"

	"ssehub/internal/testkit"
)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestPageAndRedirect(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	resp := testkit.Get(t, srv.URL+"/static/index.html", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, body(t, resp), `<script type="module" src="/static/app.js">`)

	for _, asset := range []string{"/static/app.js", "/static/ssehub.js", "/static/style.css"} {
		resp := testkit.Get(t, srv.URL+asset, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, asset)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "/static/index.html", resp.Header.Get("Location"))
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 20ms")
	resp := testkit.Get(t, srv.URL+"/healthz", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"status":"ok"}`, body(t, resp))
	resp = testkit.Get(t, srv.URL+"/readyz", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	s := testkit.Open(t, srv.URL+"/sse", nil)
	s.NextOf(t, "tick")
	text := testkit.Metrics(t, srv.URL)
	for _, name := range []string{"ssehub_clients ", `ssehub_events_published_total{topic="tick"}`,
		"ssehub_events_delivered_total "} {
		require.Contains(t, text, name)
	}

	srv.Svc.Hub.Drain()
	resp = testkit.Get(t, srv.URL+"/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	resp = testkit.Get(t, srv.URL+"/sse", nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Contains(t, body(t, resp), `"code":"draining"`)
}

func TestUnknownRouteAndMethodAnswerJSON(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	resp := testkit.Get(t, srv.URL+"/nope", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.JSONEq(t, `{"code":"not_found","message":"no such route"}`, body(t, resp))

	req, err := http.NewRequest(http.MethodDelete, srv.URL+"/sse", nil)
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Contains(t, body(t, resp), `"code":"method_not_allowed"`)
}

func TestPublishRejectsBadInputAndPublishesNothing(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nMaxEventBytes: 1024")
	s := testkit.Open(t, srv.URL+"/sse?topic=a", nil)
	cases := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"malformed", "application/json", `{"topic":`, 400, "bad_json"},
		{"not-object", "application/json", `[1,2]`, 400, "bad_json"},
		{"two-values", "application/json", `{"topic":"a","data":1} {}`, 400, "bad_json"},
		{"unknown-field", "application/json", `{"topic":"a","data":1,"x":2}`, 400, "bad_json"},
		{"missing-topic", "application/json", `{"data":1}`, 400, "missing_topic"},
		{"missing-data", "application/json", `{"topic":"a"}`, 400, "missing_data"},
		{"bad-topic", "application/json", `{"topic":"a/../b","data":1}`, 400, "bad_topic"},
		{"tick-topic", "application/json", `{"topic":"tick","data":1}`, 403, "topic_reserved"},
		{"reserved-event", "application/json", `{"topic":"a","event":"reset","data":1}`, 400, "bad_event"},
		{"event-newline", "application/json", `{"topic":"a","event":"x\ny","data":1}`, 400, "bad_event"},
		{"content-type", "text/plain", `{"topic":"a","data":1}`, 415, "bad_content_type"},
		{"too-large", "application/json", `{"topic":"a","data":"` + strings.Repeat("x", 2000) + `"}`, 413, "too_large"},
	}
	for _, tc := range cases {
		resp, err := http.Post(srv.URL+"/publish", tc.contentType, strings.NewReader(tc.body))
		require.NoError(t, err)
		var e struct{ Code, Message string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e), tc.name)
		_ = resp.Body.Close()
		require.Equal(t, tc.status, resp.StatusCode, tc.name)
		require.Equal(t, tc.code, e.Code, tc.name)
		require.NotEmpty(t, e.Message, tc.name)
	}
	good := testkit.Publish(t, srv.URL, "a", "m", `"ok"`)
	require.Equal(t, good, s.NextEvent(t).ID, "no bad request may have published anything")
}

// TestPublishClosedByDefault: publishing is closed in the shipped config and
// in one that does not name PublishOpen; only the listening address is
// changed for the test.
func TestPublishClosedByDefault(t *testing.T) {
	t.Parallel()
	var shipped, unnamed config.Config
	require.NoError(t, conf.Load("../../etc/ssehub.yaml", &shipped, conf.UseEnv()))
	require.NoError(t, conf.LoadFromYamlBytes([]byte("Name: t\nHost: 127.0.0.1\nPort: 8080\n"), &unnamed))
	for name, c := range map[string]config.Config{"shipped": shipped, "unnamed": unnamed} {
		c.Host, c.Port = "127.0.0.1", 0
		c.Log.Level = "severe"
		srv := testkit.Start(t, c)
		resp, err := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(`{"topic":"a","data":1}`))
		require.NoError(t, err, name)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		require.Contains(t, body(t, resp), `"code":"publish_closed"`, name)
		resp.Body.Close()
	}
}

func TestBadTopicsOnStream(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nMaxTopics: 4")
	for _, q := range []string{"topic=a/../b", "topic=%00", "topic=a%0D%0Ab", "topic=" + strings.Repeat("x", 10_000),
		"topic=a&topic=b&topic=c&topic=d&topic=e"} {
		resp := testkit.Get(t, srv.URL+"/sse?"+q, nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
		require.Contains(t, body(t, resp), `"code":"bad_topic"`, q)
	}
}

// TestMetricsCountPerInstance: every server counts alone, so exact counts
// hold while other servers in the same process do the same work.
func TestMetricsCountPerInstance(t *testing.T) {
	t.Parallel()
	for i := range 3 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			srv := testkit.StartDefault(t, "TickInterval: 1h")
			s := testkit.Open(t, srv.URL+"/sse?topic=counted", nil)
			for range 5 {
				testkit.Publish(t, srv.URL, "counted", "n", "1")
				s.NextOf(t, "n")
			}
			s.Close()
			require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 0 }, testkit.Wait, 5*time.Millisecond)
			text := testkit.Metrics(t, srv.URL)
			for _, line := range []string{
				`ssehub_events_published_total{topic="counted"} 5`,
				"ssehub_events_delivered_total 5",
				`ssehub_clients_disconnected_total{reason="client"} 1`,
				"ssehub_clients 0",
			} {
				require.Contains(t, text, line+"\n")
			}
		})
	}
}
