package ready

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTakeGetsEveryPushOnce: pushes from many goroutines, some while a
// taker waits, all come out exactly once.
func TestTakeGetsEveryPushOnce(t *testing.T) {
	t.Parallel()
	q := New[int]()
	const pushers, each = 8, 1000
	var wg sync.WaitGroup
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				q.Push(p*each + i)
			}
		}()
	}
	seen := make(map[int]bool, pushers*each)
	var spare []int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(seen) < pushers*each {
		got, ok := q.Take(ctx, spare)
		require.True(t, ok, "only %d of %d taken", len(seen), pushers*each)
		for _, n := range got {
			require.False(t, seen[n], "%d taken twice", n)
			seen[n] = true
		}
		spare = got
	}
	wg.Wait()
}

func TestTakeEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() {
		_, ok := New[int]().Take(ctx, nil)
		done <- ok
	}()
	cancel()
	require.False(t, <-done)
}
