package topic

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValid(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"tick", "orders/eu-1", "a.b:c_d", strings.Repeat("x", MaxLen)} {
		require.NoError(t, Valid(ok), ok)
	}
	for _, bad := range []string{"", "a/../b", "..", "/a", "a/", "a//b", "a b", "a\x00", "a\r\nb", "é",
		strings.Repeat("x", MaxLen+1), "a?b", "a*"} {
		require.ErrorIs(t, Valid(bad), ErrInvalid, "%q", bad)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	got, err := List(nil, []string{"tick"}, 4)
	require.NoError(t, err)
	require.Equal(t, []string{"tick"}, got)

	got, err = List([]string{"a", "b", "a"}, nil, 4)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, got)

	_, err = List(make([]string, 10_000), nil, 4)
	require.ErrorIs(t, err, ErrTooMany)
	_, err = List([]string{"ok", "../x"}, nil, 4)
	require.ErrorIs(t, err, ErrInvalid)
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"tick", "a/b", "../x", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s) != nil {
			return
		}
		require.NotContains(t, s, "..")
		require.False(t, strings.ContainsAny(s, "\r\n\x00 "))
		require.LessOrEqual(t, len(s), MaxLen)
	})
}
