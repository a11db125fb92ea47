package benchreport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, us := range []uint64{0, 1, 31, 32, 33, 63, 64, 65, 1000, 123456, 1 << 40} {
		i := bucketOf(us)
		require.LessOrEqual(t, lowOf(i), us, "value %d", us)
		require.Greater(t, lowOf(i+1), us, "value %d", us)
		require.LessOrEqual(t, float64(us-lowOf(i)), float64(us)/subBuckets+1, "value %d", us)
	}
}

func TestQuantiles(t *testing.T) {
	t.Parallel()
	var h Hist
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	require.InDelta(t, 500, h.Quantile(0.5), 500.0/subBuckets)
	require.InDelta(t, 990, h.Quantile(0.99), 990.0/subBuckets)
	require.Equal(t, 1000.0, h.Quantile(1))
	var merged Hist
	merged.Merge(h.Snapshot())
	require.Equal(t, h.Quantile(0.9), merged.Quantile(0.9))
	require.Equal(t, uint64(1000), merged.Total())
}
