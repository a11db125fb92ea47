package system_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/sse"
	"ssehub/internal/testkit"
)

type resetData struct {
	Reason      string `json:"reason"`
	LastEventID string `json:"lastEventId"`
}

func requireReset(t *testing.T, f sse.Frame, reason, lastID string) {
	t.Helper()
	require.Equal(t, "reset", f.Event)
	require.False(t, f.HasID, "a reset must not move the client's last id")
	var d resetData
	require.NoError(t, json.Unmarshal([]byte(f.Data), &d))
	require.Equal(t, resetData{Reason: reason, LastEventID: lastID}, d)
}

func publishN(t *testing.T, base, topic string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = testkit.Publish(t, base, topic, "m", fmt.Sprint(i))
	}
	return ids
}

func lastEventID(id string) http.Header {
	return http.Header{"Last-Event-ID": {id}}
}

func TestResumeReplaysWhatWasMissedThenLive(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	ids := publishN(t, srv.URL, "a", 5)
	publishN(t, srv.URL, "b", 2)
	s := testkit.Open(t, srv.URL+"/sse?topic=a", lastEventID(ids[1]))
	for _, want := range ids[2:] {
		require.Equal(t, want, s.NextEvent(t).ID)
	}
	live := testkit.Publish(t, srv.URL, "a", "m", `"live"`)
	require.Equal(t, live, s.NextEvent(t).ID)
}

func TestResumeWithQueryParameter(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	ids := publishN(t, srv.URL, "a", 3)
	s := testkit.Open(t, srv.URL+"/sse?topic=a&lastEventId="+url.QueryEscape(ids[0]), nil)
	require.Equal(t, ids[1], s.NextEvent(t).ID)
	require.Equal(t, ids[2], s.NextEvent(t).ID)
}

// TestResumeSeamUnderConcurrentPublishing connects resuming clients while a
// publisher runs at full speed: each must see every event after its id
// exactly once, in order, across the history/live seam.
func TestResumeSeamUnderConcurrentPublishing(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nClientBuffer: 10000")
	const total = 3000
	all := make([]string, 0, total)
	var mu sync.Mutex
	firstDone := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			id := testkit.Publish(t, srv.URL, "seam", "m", fmt.Sprint(i))
			mu.Lock()
			all = append(all, id)
			mu.Unlock()
			if i == 99 {
				close(firstDone)
			}
		}
	}()
	<-firstDone

	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		mu.Lock()
		from := len(all) / 2
		resumeID := all[from]
		mu.Unlock()
		s := testkit.Open(t, srv.URL+"/sse?topic=seam", lastEventID(resumeID))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []string
			for len(got) < total-from-1 {
				got = append(got, s.NextEvent(t).ID)
			}
			<-done
			mu.Lock()
			want := append([]string(nil), all[from+1:]...)
			mu.Unlock()
			require.Equal(t, want, got)
		}()
	}
	wg.Wait()
}

func TestResetForIDsTheServerCannotPlace(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	ids := publishN(t, srv.URL, "a", 2)
	var ms, seq uint64
	_, err := fmt.Sscanf(ids[1], "%d-%d", &ms, &seq)
	require.NoError(t, err)
	cases := map[string]string{
		"garbage":   "not-an-id",
		"later":     fmt.Sprintf("%d-%d", ms, seq+100),
		"future":    fmt.Sprintf("%d-1", ms+1000),
		"long":      strings.Repeat("7", 100_000),
		"negative":  "-1",
		"overflow":  "99999999999999999999999-1",
		"text-utf8": "идентификатор",
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			s := testkit.Open(t, srv.URL+"/sse?topic=a&lastEventId="+url.QueryEscape(bad), nil)
			echo := bad
			if len(echo) > 64 {
				echo = echo[:64]
			}
			requireReset(t, s.NextEvent(t), "unknown-id", strings.ToValidUTF8(echo, "\uFFFD"))
			live := testkit.Publish(t, srv.URL, "a", "m", `"after"`)
			require.Equal(t, live, s.NextEvent(t).ID, "after an unplaceable id: live events, no history")
		})
	}
}

func TestResetWhenHistoryIsEvicted(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nReplay: {Size: 3}")
	watcher := testkit.Open(t, srv.URL+"/sse?topic=a", nil)
	ids := publishN(t, srv.URL, "a", 6)
	for _, want := range ids {
		require.Equal(t, want, watcher.NextEvent(t).ID, "the hub has delivered every event")
	}
	s := testkit.Open(t, srv.URL+"/sse?topic=a", lastEventID(ids[0]))
	requireReset(t, s.NextEvent(t), "history-gone", ids[0])
	for _, want := range ids[3:] {
		require.Equal(t, want, s.NextEvent(t).ID)
	}
}

// A resume that races the hub (its events are in history but not yet
// delivered when the client subscribes) still never repeats what the client
// had, and still ends with the retained ones, whatever history lost.
func TestResetNeverRepeatsWhatTheClientHad(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nReplay: {Size: 3}")
	for i := range 30 {
		topic := fmt.Sprint("race-", i)
		ids := publishN(t, srv.URL, topic, 6)
		s := testkit.Open(t, srv.URL+"/sse?topic="+topic, lastEventID(ids[0]))
		requireReset(t, s.NextEvent(t), "history-gone", ids[0])
		marker := testkit.Publish(t, srv.URL, topic, "m", `"marker"`)
		var got []string
		for f := s.NextEvent(t); f.ID != marker; f = s.NextEvent(t) {
			got = append(got, f.ID)
		}
		prev := 0
		for _, id := range got {
			at := slices.Index(ids, id)
			require.Greater(t, at, prev, "seed-free race, iteration %d: after %s got %v", i, ids[0], got)
			prev = at
		}
		require.Subset(t, got, ids[3:], "every retained event")
		s.Close()
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	s := testkit.Open(t, srv.URL+"/sse?topic=orders", nil)
	post := func() map[string]any {
		resp, err := http.Post(srv.URL+"/publish", "application/json",
			strings.NewReader(`{"topic":"orders","event":"created","data":{"n":1},"key":"order-1"}`))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	first := post()
	second := post()
	require.Equal(t, first["id"], second["id"])
	require.Equal(t, true, second["duplicate"])
	next := testkit.Publish(t, srv.URL, "orders", "created", `{"n":2}`)
	require.Equal(t, first["id"], s.NextEvent(t).ID)
	require.Equal(t, next, s.NextEvent(t).ID, "the retried publish must not produce a second event")
}

// TestSlowClientRecoversEverythingByResuming plays a client that stops
// reading while bursts are published, is cut off each time, and reconnects
// with its last id: it must end up with every event exactly once, in order.
func TestSlowClientRecoversEverythingByResuming(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h\nClientBuffer: 2\nWriteTimeout: 5s")
	payload := `"` + strings.Repeat("y", 60_000) + `"`
	var published, got []string
	readUntil := func(r *sse.Reader, want int) {
		for len(got) < want {
			f, err := r.Next()
			if err != nil {
				return
			}
			if !f.IsComment {
				require.NotEqual(t, "reset", f.Event, "history still holds everything")
				got = append(got, f.ID)
			}
		}
	}
	last := func() string {
		if len(got) == 0 {
			return ""
		}
		return got[len(got)-1]
	}

	// catchUp reconnects with the last id until it has everything published.
	catchUp := func() {
		for len(got) < len(published) {
			body := rawStream(t, srv.URL, "/sse?topic=slow", last())
			readUntil(sse.NewReader(body), len(published))
			_ = body.Close()
		}
		require.Equal(t, published, got)
	}

	const rounds = 3
	for round := 0; round < rounds; round++ {
		catchUp()
		body := rawStream(t, srv.URL, "/sse?topic=slow", last())
		require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 1 }, testkit.Wait, time.Millisecond)

		// Stop reading while a burst larger than every buffer on the way is published.
		for i := 0; i < 120; i++ {
			published = append(published, testkit.Publish(t, srv.URL, "slow", "m", payload))
		}
		require.Eventually(t, func() bool { return srv.Svc.Hub.Len() == 0 }, time.Minute, time.Millisecond,
			"the stalled client must be cut off")
		readUntil(sse.NewReader(body), len(published)) // what reached the socket before the cut
		require.Less(t, len(got), len(published), "a cut client cannot have everything")
		_ = body.Close()
	}
	catchUp()
}

// rawStream sends a stream request on a connection with a small receive
// buffer and returns the body unread, so the server sees a slow reader.
func rawStream(t *testing.T, base, path, lastID string) io.ReadCloser {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	// A fixed receive buffer stops the kernel from absorbing megabytes.
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(64<<10))
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\n"
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	_, err = io.WriteString(conn, req+"\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return struct {
		io.Reader
		io.Closer
	}{resp.Body, conn}
}

func TestPublishReachesThousandSubscribers(t *testing.T) {
	t.Parallel()
	srv := testkit.StartDefault(t, "TickInterval: 1h")
	const subs = 1000
	streams := make([]*testkit.Stream, subs)
	for i := range streams {
		streams[i] = testkit.Open(t, srv.URL+"/sse?topic=fan", nil)
	}
	ids := publishN(t, srv.URL, "fan", 20)
	for _, s := range streams {
		for _, want := range ids {
			require.Equal(t, want, s.NextEvent(t).ID)
		}
	}
}
