package limiter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRateAllowsBurstThenRefuses(t *testing.T) {
	t.Parallel()
	// One per hour: nothing refills while the test runs.
	r, err := NewRate(RateOptions{Name: "test", PerSecond: 1.0 / 3600, Burst: 3, MaxKeys: 10})
	require.NoError(t, err)
	for range 3 {
		require.True(t, r.Allow("a"))
	}
	require.False(t, r.Allow("a"))
	require.True(t, r.Allow("b"), "each key has its own bucket")
	require.Equal(t, time.Hour, r.RetryAfter())
}

func TestRateKeepsAtMostMaxKeys(t *testing.T) {
	t.Parallel()
	r, err := NewRate(RateOptions{Name: "test", PerSecond: 1, Burst: 1, MaxKeys: 2})
	require.NoError(t, err)
	for _, k := range []string{"a", "b", "c", "d"} {
		require.True(t, r.Allow(k))
	}
	_, ok := r.cache.Get("a")
	require.False(t, ok, "the least recently used key is evicted")
}

func TestZeroRateAllowsAll(t *testing.T) {
	t.Parallel()
	r, err := NewRate(RateOptions{Name: "test", PerSecond: 0, Burst: 1, MaxKeys: 1})
	require.NoError(t, err)
	require.Nil(t, r)
	require.True(t, r.Allow("a"))
}
