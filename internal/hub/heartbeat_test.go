package hub

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestZeroHeartbeatSendsNoPings: HeartbeatInterval 0 means off; it used to
// queue a ping about every millisecond for every client.
func TestZeroHeartbeatSendsNoPings(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := New(Options{ClientBuffer: 8})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go h.Run(ctx)
		c, _, err := h.Subscribe([]string{"a"})
		require.NoError(t, err)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Empty(t, c.Events(), "no ping may be queued")
	})
}
