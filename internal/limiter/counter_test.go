package limiter

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCounterCapsEachKey(t *testing.T) {
	t.Parallel()
	c := NewCounter(2)
	require.True(t, c.Acquire("a"))
	require.True(t, c.Acquire("a"))
	require.False(t, c.Acquire("a"))
	require.True(t, c.Acquire("b"))
	c.Release("a")
	require.True(t, c.Acquire("a"))
	c.Release("a")
	c.Release("a")
	c.Release("b")
	require.Empty(t, c.n, "keys without streams are dropped")
}

func TestZeroCounterAllowsAll(t *testing.T) {
	t.Parallel()
	c := NewCounter(0)
	require.Nil(t, c)
	for range 1000 {
		require.True(t, c.Acquire("a"))
	}
	c.Release("a")
}
