package stream

import (
	"testing"

	"github.com/stretchr/testify/require"

	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
)

func event(t *testing.T, id, topic string) *eventlog.Event {
	t.Helper()
	parsed, err := eventid.Parse(id)
	require.NoError(t, err)
	ev, err := eventlog.NewEvent(parsed, eventlog.Message{Topic: topic, Type: "update", Data: []byte("x")}, 0)
	require.NoError(t, err)
	return ev
}

// TestAppendFrameTagsEventsForClientsThatAsked: a tagged client gets each
// event with its topic first; pings and other clients' frames are as encoded.
func TestAppendFrameTagsEventsForClientsThatAsked(t *testing.T) {
	t.Parallel()
	ev := event(t, "5-2", "orders/eu")
	ping := &eventlog.Event{Wire: []byte(": ping\n\n")}
	after := event(t, "5-1", "news").ID

	require.Equal(t, "id: 5-2\nevent: update\ndata: orders/eu\ndata: x\n\n", string(appendFrame(nil, ev, after, true)))
	require.Equal(t, string(ev.Wire), string(appendFrame(nil, ev, after, false)))
	require.Equal(t, ": ping\n\n", string(appendFrame(nil, ping, after, true)))
	require.Empty(t, appendFrame(nil, ev, ev.ID, true), "the client has it already")
}
