package loadconns

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePayload(t *testing.T) {
	t.Parallel()
	seq, ts, ok := parsePayload([]byte(`{"seq":42,"ts":1700000000000000000}`))
	require.True(t, ok)
	require.Equal(t, uint64(42), seq)
	require.Equal(t, int64(1700000000000000000), ts)
	_, _, ok = parsePayload([]byte(`{"seq":42}`))
	require.False(t, ok, "no ts")
	_, _, ok = parsePayload([]byte(`{"seq":"x","ts":1}`))
	require.False(t, ok, "no digits")
}
