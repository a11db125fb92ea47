package sse

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestScannerAgreesWithReader feeds the encoder's output to both parsers.
func TestScannerAgreesWithReader(t *testing.T) {
	t.Parallel()
	var wire []byte
	wire = AppendRetry(wire, 3000)
	wire = AppendComment(wire, "ok")
	for _, data := range []string{`{"seq":1}`, "a\nb", "", "a\r\nb\n"} {
		var err error
		wire, err = AppendEvent(wire, "1-2", "e", []byte(data))
		require.NoError(t, err)
	}
	want := ParseAll(wire)
	s := NewScanner(bytes.NewReader(wire), 64)
	for _, f := range want {
		id, data, comment, err := s.Next()
		require.NoError(t, err)
		require.Equal(t, f.IsComment, comment)
		if comment {
			require.Equal(t, f.Comment, string(data))
			continue
		}
		require.Equal(t, f.ID, string(id))
		require.Equal(t, f.Event, string(s.Event))
		require.Equal(t, f.Data, string(data))
	}
	_, _, _, err := s.Next()
	require.True(t, errors.Is(err, io.EOF))
}

func TestScannerNextAllocatesNothing(t *testing.T) {
	frame, err := AppendEvent(nil, "1-2", "e", []byte(`{"seq":1,"ts":2}`))
	require.NoError(t, err)
	r := bytes.NewReader(nil)
	s := NewScanner(r, 256)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(frame)
		if _, _, _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}
