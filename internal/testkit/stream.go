package testkit

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/sse"
)

// Wait bounds how long a test waits for one expected frame; tests wait on
// frames, never on sleeps, and this only turns a hang into a failure.
const Wait = 10 * time.Second

// Stream is an open /sse response read frame by frame.
type Stream struct {
	Resp    *http.Response
	frames  chan sse.Frame
	errs    chan error
	cancel  context.CancelFunc
	retries atomic.Int64
}

// Open connects to url (a full /sse URL) with header and checks the status.
func Open(t testing.TB, url string, header http.Header) *Stream {
	t.Helper()
	s := Dial(t, url, header)
	require.Equal(t, http.StatusOK, s.Resp.StatusCode)
	return s
}

// Dial connects without checking the status.
func Dial(t testing.TB, url string, header http.Header) *Stream {
	t.Helper()
	return DialWith(t, http.DefaultClient, url, header)
}

// DialWith connects with client (for TLS and HTTP/2) without checking the
// status.
func DialWith(t testing.TB, client *http.Client, url string, header http.Header) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	s := &Stream{Resp: resp, frames: make(chan sse.Frame, 1<<16), errs: make(chan error, 1), cancel: cancel}
	t.Cleanup(s.Close)
	go s.read()
	return s
}

func (s *Stream) read() {
	r := sse.NewReader(s.Resp.Body)
	for {
		f, err := r.Next()
		s.retries.Store(int64(r.Retries))
		if err != nil {
			s.errs <- err
			close(s.frames)
			return
		}
		s.frames <- f
	}
}

// Close drops the connection.
func (s *Stream) Close() {
	s.cancel()
	_ = s.Resp.Body.Close()
}

// Next returns the next frame, comments included.
func (s *Stream) Next(t testing.TB) sse.Frame {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			t.Fatalf("stream ended: %v", <-s.errs)
		}
		return f
	case <-time.After(Wait):
		t.Fatal("no frame within the wait bound")
	}
	return sse.Frame{}
}

// NextEvent returns the next dispatched event, skipping comments.
func (s *Stream) NextEvent(t testing.TB) sse.Frame {
	t.Helper()
	for {
		if f := s.Next(t); !f.IsComment {
			return f
		}
	}
}

// NextOf returns the next event of the given type, skipping others.
func (s *Stream) NextOf(t testing.TB, event string) sse.Frame {
	t.Helper()
	for {
		if f := s.NextEvent(t); f.Event == event {
			return f
		}
	}
}

// Retries returns how many retry lines the stream has carried so far.
func (s *Stream) Retries() int {
	return int(s.retries.Load())
}

// End waits for the server to end the stream cleanly (a terminated body,
// not a dropped connection) and returns the frames that came before.
func (s *Stream) End(t testing.TB) []sse.Frame {
	t.Helper()
	var out []sse.Frame
	deadline := time.After(Wait)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				err := <-s.errs
				require.ErrorIs(t, err, io.EOF, "the stream must end with a terminated body")
				return out
			}
			out = append(out, f)
		case <-deadline:
			t.Fatal("stream did not end")
		}
	}
}

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
