package system_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/redistest"
	"ssehub/internal/sse"
	"ssehub/internal/testkit"
	"ssehub/internal/testkit/process"
)

// instances starts n ssehub processes sharing srv and waits until each is ready.
func instances(t *testing.T, srv *redistest.Server, n int, sse string) []*process.Process {
	t.Helper()
	out := make([]*process.Process, n)
	for i := range out {
		out[i] = process.Start(t, process.RedisYAML(fmt.Sprintf("ssehub-%c", 'a'+i), srv.Addr, sse))
		testkit.WaitReady(t, out[i].URL, true)
	}
	return out
}

// tryPublish posts one event and returns the status and, on 200, the id.
func tryPublish(t *testing.T, base, topic, data string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"topic":%q,"event":"m","data":%s}`, topic, data)
	resp, err := http.Post(base+"/publish", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out struct{ ID, Code string }
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	if resp.StatusCode == http.StatusServiceUnavailable {
		require.Equal(t, "log_unavailable", out.Code)
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	}
	return resp.StatusCode, out.ID
}

func TestScaleOutPublishOnOneReceiveOnOther(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	p := instances(t, srv, 2, "TickInterval: 1h")
	s := testkit.Open(t, p[0].URL+"/sse?topic=news", nil)
	id := testkit.Publish(t, p[1].URL, "news", "update", `{"n":1}`)
	require.Equal(t, sse.Frame{ID: id, HasID: true, Event: "update", Data: `{"n":1}`}, s.NextEvent(t))
	require.Contains(t, testkit.Metrics(t, p[0].URL), "ssehub_redis_up 1")
}

func TestScaleOutResumeOnOtherInstanceAfterKill(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	p := instances(t, srv, 2, "TickInterval: 1h")
	a, b := p[0], p[1]
	sa := testkit.Open(t, a.URL+"/sse?topic=news", nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, testkit.Publish(t, b.URL, "news", "m", fmt.Sprint(i)))
	}
	for _, id := range ids[:3] {
		require.Equal(t, id, sa.NextEvent(t).ID)
	}
	a.Signal(t, syscall.SIGKILL)
	a.Wait(t, testkit.Wait)
	for i := 5; i < 8; i++ {
		ids = append(ids, testkit.Publish(t, b.URL, "news", "m", fmt.Sprint(i)))
	}

	sb := testkit.Open(t, b.URL+"/sse?topic=news", http.Header{"Last-Event-ID": {ids[2]}})
	for i, id := range ids[3:] {
		require.Equal(t, sse.Frame{ID: id, HasID: true, Event: "m", Data: fmt.Sprint(i + 3)}, sb.NextEvent(t))
	}
	last := testkit.Publish(t, b.URL, "news", "m", `"live"`)
	require.Equal(t, last, sb.NextEvent(t).ID, "nothing may come between history and live")
}

type tickBody struct {
	Time time.Time `json:"time"`
	Seq  uint64    `json:"seq"`
}

func nextTick(t *testing.T, s *testkit.Stream) tickBody {
	t.Helper()
	var tk tickBody
	require.NoError(t, json.Unmarshal([]byte(s.NextOf(t, "tick").Data), &tk))
	return tk
}

// The ticking instance dies: the other takes the lease within two intervals
// (by the ticks' own clock) and the seq goes on without a repeat or a hole.
func TestScaleOutTickerTakeover(t *testing.T) {
	t.Parallel()
	const every = time.Second
	srv := redistest.Start(t)
	a := instances(t, srv, 1, "TickInterval: 1s")[0]
	sa := testkit.Open(t, a.URL+"/sse", nil)
	nextTick(t, sa) // a holds the lease
	b := process.Start(t, process.RedisYAML("ssehub-b", srv.Addr, "TickInterval: 1s"))
	testkit.WaitReady(t, b.URL, true)
	sb := testkit.Open(t, b.URL+"/sse", nil)
	prev := nextTick(t, sb)
	a.Signal(t, syscall.SIGKILL)
	a.Wait(t, testkit.Wait)

	for range 3 {
		next := nextTick(t, sb)
		require.Equal(t, prev.Seq+1, next.Seq)
		gap := next.Time.Sub(prev.Time)
		require.LessOrEqual(t, gap, 2*every, "ticks %d and %d are %v apart", prev.Seq, next.Seq, gap)
		prev = next
	}
	require.Contains(t, b.Logs(), "holding=true", "b took the lease")
}

// Redis goes away while a publisher keeps publishing, then comes back with
// its data: streams stay open with heartbeats, readiness and publishing
// report the outage, and exactly the accepted events are delivered. The
// publisher is sequential so no publish is in flight at the instant Redis
// stops (a reply lost there would make its outcome unknowable).
func TestScaleOutRedisOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	p := instances(t, srv, 2, "TickInterval: 1h\nHeartbeatInterval: 300ms")
	a, b := p[0], p[1]
	sa := testkit.Open(t, a.URL+"/sse?topic=news", nil)

	var accepted, refused []string
	ids := map[string]string{}
	n := 0
	publish := func(want int) {
		n++
		data := fmt.Sprint(n)
		code, id := tryPublish(t, b.URL, "news", data)
		require.Equal(t, want, code)
		if code == http.StatusOK {
			accepted = append(accepted, data)
			ids[data] = id
		} else {
			refused = append(refused, data)
		}
	}
	for range 5 {
		publish(http.StatusOK)
	}
	srv.Stop(t, true)
	for range 5 {
		publish(http.StatusServiceUnavailable)
	}
	testkit.WaitReady(t, a.URL, false)
	testkit.WaitReady(t, b.URL, false)
	require.Contains(t, testkit.Metrics(t, a.URL), "ssehub_redis_up 0")

	var got []sse.Frame
	pinged := false
	for !pinged {
		f := sa.Next(t)
		switch {
		case f.IsComment:
			pinged = f.Comment == "ping"
		default:
			got = append(got, f)
		}
	}
	publish(http.StatusServiceUnavailable)

	srv.Start(t)
	testkit.WaitReady(t, a.URL, true)
	testkit.WaitReady(t, b.URL, true)
	for range 5 {
		publish(http.StatusOK)
	}
	for len(got) < len(accepted) {
		got = append(got, sa.NextEvent(t))
	}
	for i, f := range got {
		require.Equal(t, sse.Frame{ID: ids[accepted[i]], HasID: true, Event: "m", Data: accepted[i]}, f)
	}
	marker := testkit.Publish(t, b.URL, "news", "m", `"end"`)
	require.Equal(t, marker, sa.NextEvent(t).ID, "a refused event (%v) was delivered", refused)
}

// Redis restarts without its data: clients are cut, and on resume they are
// told with a reset instead of seeing a silent gap.
func TestScaleOutRedisDataLossResets(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := instances(t, srv, 1, "TickInterval: 1h")[0]
	sa := testkit.Open(t, a.URL+"/sse?topic=news", nil)
	last := testkit.Publish(t, a.URL, "news", "m", `1`)
	require.Equal(t, last, sa.NextEvent(t).ID)

	srv.Kill()
	srv.Start(t)
	for _, f := range sa.End(t) {
		require.False(t, f.HasID, "no event may arrive between the loss and the cut: %+v", f)
	}
	testkit.WaitReady(t, a.URL, true)
	s := testkit.Open(t, a.URL+"/sse?topic=news", http.Header{"Last-Event-ID": {last}})
	reset := s.NextEvent(t)
	require.Equal(t, "reset", reset.Event)
	var body struct{ Reason, LastEventID string }
	require.NoError(t, json.Unmarshal([]byte(reset.Data), &body))
	require.Equal(t, last, body.LastEventID)
	require.Contains(t, []string{"history-gone", "unknown-id"}, body.Reason)

	id := testkit.Publish(t, a.URL, "news", "m", `2`)
	require.Equal(t, id, s.NextEvent(t).ID)
	require.Contains(t, testkit.Metrics(t, a.URL), `ssehub_clients_disconnected_total{reason="resync"} 1`)
}

// Redis down from the start: the instance serves streams with heartbeats,
// but is not ready and refuses publishes with a JSON 503.
func TestRedisDownAtStart(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))
	c := testkit.Config(t, "TickInterval: 100ms\nHeartbeatInterval: 200ms", "Redis:\n  Addr: "+addr+"\n")
	srv := testkit.Start(t, c)
	s := testkit.Open(t, srv.URL+"/sse", nil)
	require.Equal(t, sse.Frame{Comment: "ok", IsComment: true}, s.Next(t))
	require.Equal(t, sse.Frame{Comment: "ping", IsComment: true}, s.Next(t), "no tick without Redis, only heartbeats")
	testkit.WaitReady(t, srv.URL, false)
	code, _ := tryPublish(t, srv.URL, "news", "1")
	require.Equal(t, http.StatusServiceUnavailable, code)
}
