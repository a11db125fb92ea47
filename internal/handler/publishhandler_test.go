package handler

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"ssehub/internal/apierr"
	"ssehub/internal/sse"
	"ssehub/internal/topic"
)

// FuzzDecodePublish feeds any body to the publish decoder: it answers a 4xx
// API error or a message that encodes to exactly one well-formed event.
func FuzzDecodePublish(f *testing.F) {
	for _, s := range []string{
		`{"topic":"news","event":"update","data":{"a":1},"key":"k"}`,
		`{"topic":"news","data":"line one\nline two\r\n"}`,
		`{"topic":"a/../b","data":1}`,
		`{"topic":"news","event":"reset","data":null}`,
		`{"topic":"news","event":"error","data":null}`,
		"{\"topic\":\"news\",\"data\":{\"k\":\"\xff\"}}",
		`{"topic":"tick","data":1}`,
		`{"topic":"news","data":1}{}`,
		`{"topic":"news","data":"\u0000"}`,
		`{"topic":"news","event":"a\nb","data":1}`,
		`{"topic":`,
		`[1,2]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/publish", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		m, err := decodePublish(httptest.NewRecorder(), r, 4096)
		if err != nil {
			var e *apierr.Error
			require.True(t, errors.As(err, &e), "%v", err)
			require.GreaterOrEqual(t, e.Status, 400)
			require.Less(t, e.Status, 500)
			return
		}
		require.NoError(t, topic.Valid(m.Topic))
		require.NotContains(t, []string{"", "reset", "tick", "error", "open"}, m.Type)
		require.True(t, utf8.Valid(m.Data), "data on the wire is valid UTF-8")
		wire, err := sse.AppendEvent(nil, "1-1", m.Type, m.Data)
		require.NoError(t, err, "an accepted event type must be writable")
		events := sse.ParseAll(wire)
		require.Len(t, events, 1)
		require.Equal(t, m.Type, events[0].Event)
		require.Equal(t, strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(m.Data)), events[0].Data)
	})
}
