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
	for _, s := range []string{"tick", "a/b", "../x", "a\nb", "a..b", "a/./b", "orders/eu-1:x_y.z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s) != nil {
			return
		}
		require.LessOrEqual(t, len(s), MaxLen)
		for _, seg := range strings.Split(s, "/") {
			require.NotContains(t, []string{"", ".", ".."}, seg, "%q", s)
		}
		for _, c := range []byte(s) {
			ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_-.:/", c) >= 0
			require.True(t, ok, "%q holds %q", s, c)
		}
	})
}
