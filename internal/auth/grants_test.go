package auth

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPatternsAllows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		patterns []string
		topic    string
		want     bool
	}{
		{[]string{"*"}, "anything/at/all", true},
		{[]string{"news"}, "news", true},
		{[]string{"news"}, "newsletter", false},
		{[]string{"news"}, "news/eu", false},
		{[]string{"orders/*"}, "orders/1", true},
		{[]string{"orders/*"}, "orders/eu/1", true},
		{[]string{"orders/*"}, "orders", false},
		{[]string{"orders/*"}, "ordersx/1", false},
		{nil, "news", false},
	}
	for _, tc := range cases {
		ps, err := ParsePatterns(tc.patterns)
		require.NoError(t, err)
		require.Equal(t, tc.want, ps.Allows(tc.topic), "%v %s", tc.patterns, tc.topic)
	}
}

func TestParsePatternsRejectsBadPatterns(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "*/x", "a*", "a/*/b", "**", "/*", "a/../*", "a\nb"} {
		_, err := ParsePatterns([]string{bad})
		require.ErrorIs(t, err, ErrBadPattern, "%q", bad)
	}
}

func TestAllowsAllNamesTheFirstRefusedTopic(t *testing.T) {
	t.Parallel()
	ps := Patterns{"a", "b/*"}
	bad, ok := ps.AllowsAll([]string{"a", "b/1", "c", "d"})
	require.False(t, ok)
	require.Equal(t, "c", bad)
	_, ok = ps.AllowsAll([]string{"a", "b/x/y"})
	require.True(t, ok)
}

// FuzzPatterns checks that a parsed pattern never grants a topic that is not
// a valid name, and that "x/*" grants exactly the topics below x/.
func FuzzPatterns(f *testing.F) {
	for _, s := range [][2]string{{"*", "a"}, {"orders/*", "orders/1"}, {"news", "news"}, {"a/*", "a"}, {"a*", "ab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		ps, err := ParsePatterns([]string{pattern})
		if err != nil {
			require.ErrorIs(t, err, ErrBadPattern)
			return
		}
		got := ps.Allows(topic)
		switch {
		case pattern == "*":
			require.True(t, got)
		case strings.HasSuffix(pattern, "/*"):
			require.Equal(t, strings.HasPrefix(topic, strings.TrimSuffix(pattern, "*")), got)
			require.False(t, ps.Allows(strings.TrimSuffix(pattern, "/*")), "a prefix pattern does not grant its parent")
		default:
			require.Equal(t, pattern == topic, got)
		}
	})
}
