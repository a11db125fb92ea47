package system_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/sse"
	"ssehub/internal/testkit"
)

var idPattern = regexp.MustCompile(`^\d+-\d+$`)

type tick struct {
	Time time.Time `json:"time"`
	Seq  uint64    `json:"seq"`
}

func parseTick(t *testing.T, f sse.Frame) tick {
	t.Helper()
	require.Equal(t, "tick", f.Event)
	require.Regexp(t, idPattern, f.ID)
	var tk tick
	require.NoError(t, json.Unmarshal([]byte(f.Data), &tk), f.Data)
	return tk
}

func TestStreamHeadersAndFirstBytes(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nRetry: 2s")
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /sse HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nUser-Agent: curl/7.88.1\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(testkit.Wait)))

	// With ticks an hour apart, these bytes can only be the preamble, sent at once.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "no", resp.Header.Get("X-Accel-Buffering"))
	require.Equal(t, "keep-alive", resp.Header.Get("Connection"))
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)

	br := bufio.NewReader(resp.Body)
	retry, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Regexp(t, `^retry: \d+\n$`, retry)
	ms, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(retry, "retry:")))
	require.GreaterOrEqual(t, ms, 2000)
	require.Less(t, ms, 3001)
	comment, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Regexp(t, `^: \S+\n$`, comment)
}

func TestTickWireFormat(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 50ms")
	s := testkit.Open(t, srv.URL+"/sse", nil)
	first := parseTick(t, s.NextOf(t, "tick"))
	second := parseTick(t, s.NextOf(t, "tick"))
	require.Equal(t, first.Seq+1, second.Seq)
	require.True(t, second.Time.After(first.Time))
}

// holdPastDefaultTimeout reads ticks until the stream has been open longer
// than go-zero's default 3 s request timeout, by the server's own clock.
func holdPastDefaultTimeout(t *testing.T, header http.Header) {
	srv := testkit.StartDefault(t, "TickInterval: 100ms")
	s := testkit.Open(t, srv.URL+"/sse", header)
	first := parseTick(t, s.NextOf(t, "tick"))
	prev := first
	for prev.Time.Sub(first.Time) < 3500*time.Millisecond {
		next := parseTick(t, s.NextOf(t, "tick"))
		require.Equal(t, prev.Seq+1, next.Seq, "a tick was skipped")
		prev = next
	}
}

func TestStreamWithCurlHeadersOutlivesDefaultTimeout(t *testing.T) {
	t.Parallel()
	holdPastDefaultTimeout(t, http.Header{"Accept": {"*/*"}, "User-Agent": {"curl/7.88.1"}})
}

func TestStreamWithBrowserHeadersOutlivesDefaultTimeout(t *testing.T) {
	t.Parallel()
	holdPastDefaultTimeout(t, http.Header{"Accept": {"text/event-stream"}, "Cache-Control": {"no-cache"},
		"User-Agent": {"Mozilla/5.0 Chrome/156"}})
}

func TestHeartbeatAfterSilence(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nHeartbeatInterval: 200ms")
	s := testkit.Open(t, srv.URL+"/sse", nil)
	require.Equal(t, sse.Frame{Comment: "ok", IsComment: true}, s.Next(t))
	require.Equal(t, sse.Frame{Comment: "ping", IsComment: true}, s.Next(t))
}

func TestMultiLineAndInjectionPayloads(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	s := testkit.Open(t, srv.URL+"/sse?topic=news", nil)
	id1 := testkit.Publish(t, srv.URL, "news", "update", `{"b": [1, 2.50, true, null], "a": "x"}`)
	id2 := testkit.Publish(t, srv.URL, "news", "update", `"line1\r\nline2\rline3\n\nevent: evil\ndata: forged\nid: 999-1"`)
	id3 := testkit.Publish(t, srv.URL, "news", "update", `42`)

	f := s.NextEvent(t)
	require.Equal(t, sse.Frame{ID: id1, HasID: true, Event: "update", Data: `{"b":[1,2.50,true,null],"a":"x"}`}, f)
	f = s.NextEvent(t)
	require.Equal(t, sse.Frame{ID: id2, HasID: true, Event: "update",
		Data: "line1\nline2\nline3\n\nevent: evil\ndata: forged\nid: 999-1"}, f)
	f = s.NextEvent(t)
	require.Equal(t, sse.Frame{ID: id3, HasID: true, Event: "update", Data: "42"}, f)
}

func TestTopicIsolationOverHTTP(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	a := testkit.Open(t, srv.URL+"/sse?topic=a", nil)
	ab := testkit.Open(t, srv.URL+"/sse?topic=a&topic=b", nil)
	idB := testkit.Publish(t, srv.URL, "b", "m", `"to b"`)
	idA := testkit.Publish(t, srv.URL, "a", "m", `"to a"`)
	require.Equal(t, idA, a.NextEvent(t).ID, "a subscriber of a must not see b")
	require.Equal(t, idB, ab.NextEvent(t).ID)
	require.Equal(t, idA, ab.NextEvent(t).ID)
}

func TestTicksOnlyWhenSubscribed(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 20ms")
	s := testkit.Open(t, srv.URL+"/sse?topic=news", nil)
	ticks := testkit.Open(t, srv.URL+"/sse", nil)
	parseTick(t, ticks.NextOf(t, "tick"))
	parseTick(t, ticks.NextOf(t, "tick"))
	id := testkit.Publish(t, srv.URL, "news", "m", `1`)
	require.Equal(t, id, s.NextEvent(t).ID, "no tick may arrive on a stream without the tick topic")
}
