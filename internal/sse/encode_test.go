package sse

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendEventWire(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, data, want string
	}{
		{"json", `{"a":1}`, "id: 1-2\nevent: e\ndata: {\"a\":1}\n\n"},
		{"empty", ``, "id: 1-2\nevent: e\ndata: \n\n"},
		{"lf", "a\nb", "id: 1-2\nevent: e\ndata: a\ndata: b\n\n"},
		{"crlf", "a\r\nb", "id: 1-2\nevent: e\ndata: a\ndata: b\n\n"},
		{"cr", "a\rb", "id: 1-2\nevent: e\ndata: a\ndata: b\n\n"},
		{"trailing", "a\n", "id: 1-2\nevent: e\ndata: a\ndata: \n\n"},
		{"injection", "x\n\nevent: evil\ndata: y", "id: 1-2\nevent: e\ndata: x\ndata: \ndata: event: evil\ndata: data: y\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := AppendEvent(nil, "1-2", "e", []byte(tc.data))
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
			events := ParseAll(got)
			require.Len(t, events, 1)
			require.Equal(t, strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(tc.data), events[0].Data)
		})
	}
}

func TestAppendEventRejectsBrokenFields(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"a\nb", "a\rb", "a\x00b", "\xff"} {
		_, err := AppendEvent(nil, bad, "e", nil)
		require.ErrorIs(t, err, ErrBadField)
		_, err = AppendEvent(nil, "1-1", bad, nil)
		require.ErrorIs(t, err, ErrBadField)
	}
}

func TestAppendTaggedNamesTheTopicFirst(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, id, event, data string
	}{
		{"id and event", "1-2", "update", "a\nb"},
		{"no id", "", "update", `{"a":1}`},
		{"no event", "1-2", "", "x"},
		{"empty data", "1-2", "e", ""},
		{"data that looks like fields", "1-2", "e", "id: 9\nevent: evil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			frame, err := AppendEvent(nil, tc.id, tc.event, []byte(tc.data))
			require.NoError(t, err)
			events := ParseAll(AppendTagged(nil, frame, "orders/eu"))
			require.Len(t, events, 1)
			require.Equal(t, Frame{ID: tc.id, HasID: tc.id != "", Event: tc.event, Data: "orders/eu\n" + tc.data},
				events[0])
		})
	}
}

func TestAppendTaggedAllocs(t *testing.T) {
	frame, err := AppendEvent(nil, "1-2", "update", []byte("line one\nline two"))
	require.NoError(t, err)
	buf := make([]byte, 0, 256)
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = AppendTagged(buf[:0], frame, "news") }))
}

func TestRetryAndComment(t *testing.T) {
	t.Parallel()
	require.Equal(t, "retry: 3000\n", string(AppendRetry(nil, 3000)))
	require.Equal(t, ": a b\n\n", string(AppendComment(nil, "a\nb")))
	frames := ParseAll(AppendComment(AppendRetry(nil, 1500), "hello"))
	require.Equal(t, []Frame{{Comment: "hello", IsComment: true}}, frames)
}

func TestAppendEventAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	data := []byte("line one\nline two")
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = AppendEvent(buf[:0], "1-2", "update", data)
	})
	require.Zero(t, allocs)
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("1-1", "update", "hello\nworld")
	f.Add("", "", "\r\n\r\n")
	f.Add("1-1", "e", "x\n\nevent: y\ndata: z\rid: 9")
	f.Fuzz(func(t *testing.T, id, event, data string) {
		out, err := AppendEvent(nil, id, event, []byte(data))
		if err != nil {
			require.ErrorIs(t, err, ErrBadField)
			return
		}
		events := ParseAll(out)
		require.Len(t, events, 1, "one frame must dispatch exactly one event")
		require.Equal(t, id, events[0].ID)
		require.Equal(t, event, events[0].Event)
		require.Equal(t, normalized(data), events[0].Data)
		require.Equal(t, []oracleEvent{{id, event, normalized(data)}}, parseWithGoSSE(t, out), "go-sse reads it differently")
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	buf := make([]byte, 0, 512)
	data := []byte(`{"time":"2026-11-23T10:00:00.123456789Z","seq":42}`)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendEvent(buf[:0], "1763892000000-42", "tick", data)
	}
}
