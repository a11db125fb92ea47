package system_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"ssehub/internal/sse"
	"ssehub/internal/testkit"
)

// Both stream writers, the taken-over one (Sse.Hijack, the default) and the
// goroutine per stream, must look the same from outside.
var writers = []struct {
	name string
	sse  string
}{
	{"taken-over", "Hijack: true"},
	{"goroutine", "Hijack: false"},
}

func openStream(t *testing.T, url, lastID string) *sse.Reader {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r := sse.NewReader(resp.Body)
	f, err := r.Next()
	require.NoError(t, err)
	require.True(t, f.IsComment)
	return r
}

func nextEvent(t *testing.T, r *sse.Reader) sse.Frame {
	t.Helper()
	for {
		f, err := r.Next()
		require.NoError(t, err)
		if !f.IsComment {
			return f
		}
	}
}

func TestStreamResumesThenGoesLive(t *testing.T) {
	t.Parallel()
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			inst := testkit.StartDefault(t, w.sse)
			first := testkit.Publish(t, inst.URL, "news", "update", `1`)
			second := testkit.Publish(t, inst.URL, "news", "update", `2`)
			r := openStream(t, inst.URL+"/sse?topic=news", first)
			require.Equal(t, second, nextEvent(t, r).ID)
			third := testkit.Publish(t, inst.URL, "news", "update", `3`)
			require.Equal(t, third, nextEvent(t, r).ID)
		})
	}
}

// TestStreamWithTopicNamesEachEventsTopic: with withTopic=1 every event's
// data starts with a line naming its topic, in replay and live, from both
// writers; ticks and pings are otherwise unchanged.
func TestStreamWithTopicNamesEachEventsTopic(t *testing.T) {
	t.Parallel()
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			inst := testkit.StartDefault(t, w.sse)
			first := testkit.Publish(t, inst.URL, "news", "update", `1`)
			testkit.Publish(t, inst.URL, "orders/eu", "update", `"two\nlines"`)
			r := openStream(t, inst.URL+"/sse?topic=news&topic=orders/eu&withTopic=1", first)
			require.Equal(t, "orders/eu\ntwo\nlines", nextEvent(t, r).Data, "replayed")
			testkit.Publish(t, inst.URL, "news", "update", `{"n":3}`)
			live := nextEvent(t, r)
			require.Equal(t, "update", live.Event)
			require.Equal(t, "news\n{\"n\":3}", live.Data, "live")
		})
	}
}

// TestStopEndsStreamWithRetryAndEndOfBody: a stopping server sends a last
// retry and terminates the chunked body, so the client reads a clean EOF.
func TestStopEndsStreamWithRetryAndEndOfBody(t *testing.T) {
	t.Parallel()
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			inst := testkit.StartDefault(t, w.sse)
			r := openStream(t, inst.URL+"/sse?topic=news", "")
			r.Retry = 0
			inst.Stop()
			_, err := r.Next()
			require.ErrorIs(t, err, io.EOF)
			require.GreaterOrEqual(t, r.Retry, 3000, "no retry before the end")
		})
	}
}
