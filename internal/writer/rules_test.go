package writer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
)

func newEvent(t *testing.T, id, topic string) *event.Event {
	t.Helper()
	parsed, err := eventid.Parse(id)
	require.NoError(t, err)
	ev, err := event.New(parsed, event.Message{Topic: topic, Type: "update", Data: []byte("x")}, 0)
	require.NoError(t, err)
	return ev
}

// TestAppendFrameTagsEventsForClientsThatAsked: a tagged client gets each
// event with its topic first; pings and other clients' frames are as encoded.
func TestAppendFrameTagsEventsForClientsThatAsked(t *testing.T) {
	t.Parallel()
	ev := newEvent(t, "5-2", "orders/eu")
	ping := &event.Event{Wire: []byte(": ping\n\n")}
	after := newEvent(t, "5-1", "news").ID

	require.Equal(t, "id: 5-2\nevent: update\ndata: orders/eu\ndata: x\n\n", string(AppendFrame(nil, ev, after, true)))
	require.Equal(t, string(ev.Wire), string(AppendFrame(nil, ev, after, false)))
	require.Equal(t, ": ping\n\n", string(AppendFrame(nil, ping, after, true)))
	require.Empty(t, AppendFrame(nil, ev, ev.ID, true), "the client has it already")
}

// TestFailureEnding: a catch-up that fails ends the stream on the wire unless
// the client stopped reading (reset) or went; a failure of the log is never
// taken for one of the client's, though the log's errors wrap network errors
// and deadlines too.
func TestFailureEnding(t *testing.T) {
	t.Parallel()
	pipe := &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, c := range []struct {
		err  error
		want Ending
	}{
		{WriteError{Err: timeout}, Stalled},
		{WriteError{Err: pipe}, Ending{Reason: hub.ReasonClient}},
		{fmt.Errorf("%w: replay: %w", eventlog.ErrUnavailable, timeout), Ending{Reason: hub.ReasonSlow}},
		{fmt.Errorf("%w: replay: %w", eventlog.ErrUnavailable, pipe), Ending{Reason: hub.ReasonSlow}},
		{fmt.Errorf("waiting for a slot: %w", context.Canceled), Ending{Reason: hub.ReasonClient}},
		{fmt.Errorf("waiting for a slot: %w", context.DeadlineExceeded), Ending{Reason: hub.ReasonAuth}},
		{errBehind, Ending{Reason: hub.ReasonSlow}},
		{fmt.Errorf("page: %w", eventlog.ErrBehind), Ending{Reason: hub.ReasonSlow}},
		{errors.New("unexpected reply"), Ending{Reason: hub.ReasonSlow}},
	} {
		require.Equal(t, c.want, FailureEnding(c.err), "%v", c.err)
	}
}
