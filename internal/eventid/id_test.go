package eventid

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0-0", "1732000000000-1", "18446744073709551615-18446744073709551615"} {
		id, err := Parse(s)
		require.NoError(t, err, s)
		require.Equal(t, s, id.String())
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "-", "1-", "-1", "1-2-3", "abc", "1\n-2", "1-2\x00", "+1-2", " 1-2",
		"18446744073709551616-0", strings.Repeat("9", 100_000), "１-２"} {
		_, err := Parse(s)
		require.ErrorIs(t, err, ErrMalformed, "%q", s)
	}
}

func TestOrder(t *testing.T) {
	t.Parallel()
	a := ID{Ms: 5, Seq: 9}
	b := ID{Ms: 6, Seq: 1}
	require.True(t, a.Less(b))
	require.False(t, b.Less(a))
	require.False(t, a.Less(a))
	require.True(t, a.Less(a.Next()))
	require.Equal(t, ID{Ms: 6}, ID{Ms: 5, Seq: ^uint64(0)}.Next())
	require.True(t, ID{}.IsZero())
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1-2", "0-0", "x", "1-\r\n2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(id.String())
		require.NoError(t, err)
		require.Equal(t, id, again)
		require.NotContains(t, id.String(), "\n")
	})
}
