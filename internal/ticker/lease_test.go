package ticker

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/redistest"
)

const waitFor = 10 * time.Second

func client(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestRedisLeaseOneHolderAndOneCounter(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := NewRedisLease(client(t, srv), LeaseOptions{Prefix: "t", Every: time.Hour})
	b := NewRedisLease(client(t, srv), LeaseOptions{Prefix: "t", Every: time.Hour})
	ctx := context.Background()

	seq, held, err := a.Next(ctx)
	require.NoError(t, err)
	require.True(t, held)
	require.Equal(t, uint64(1), seq)
	_, held, err = b.Next(ctx)
	require.NoError(t, err)
	require.False(t, held)
	seq, held, err = a.Next(ctx)
	require.NoError(t, err)
	require.True(t, held)
	require.Equal(t, uint64(2), seq)
}

func TestRedisLeaseTakenOverAfterExpiry(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := NewRedisLease(client(t, srv), LeaseOptions{Prefix: "t", Every: 20 * time.Millisecond})
	b := NewRedisLease(client(t, srv), LeaseOptions{Prefix: "t", Every: 20 * time.Millisecond})
	_, held, err := a.Next(context.Background())
	require.NoError(t, err)
	require.True(t, held)
	var seq uint64
	require.Eventually(t, func() bool {
		s, held, err := b.Next(context.Background())
		require.NoError(t, err)
		seq = s
		return held
	}, waitFor, 5*time.Millisecond)
	require.Equal(t, uint64(2), seq)
	_, held, err = a.Next(context.Background())
	require.NoError(t, err)
	require.False(t, held)
}

// Two instances tick in turn: when the holder stops, the other carries on
// with the next seq; no seq is published twice or skipped.
func TestSharedTickerHandsOverWithoutDuplicates(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const every = 20 * time.Millisecond
	var mu sync.Mutex
	var seqs []uint64
	by := map[uint64]string{}
	publisher := func(name string) Publisher {
		return func(_ context.Context, m event.Message) error {
			var body struct{ Seq uint64 }
			require.NoError(t, json.Unmarshal(m.Data, &body))
			mu.Lock()
			seqs = append(seqs, body.Seq)
			by[body.Seq] = name
			mu.Unlock()
			return nil
		}
	}
	snapshot := func() ([]uint64, map[uint64]string) {
		mu.Lock()
		defer mu.Unlock()
		out := map[uint64]string{}
		for k, v := range by {
			out[k] = v
		}
		return append([]uint64(nil), seqs...), out
	}
	run := func(name string) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(ctx, Options{Every: every, Publish: publisher(name),
				Lease: NewRedisLease(client(t, srv), LeaseOptions{Prefix: "t", Every: every})})
		}()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return stop
	}
	stopA := run("a")
	require.Eventually(t, func() bool { s, _ := snapshot(); return len(s) >= 3 }, waitFor, time.Millisecond)
	stopB := run("b")
	// b is standby while a holds the lease; stop a and b takes over.
	stopA()
	aTicks := len(func() []uint64 { s, _ := snapshot(); return s }())
	require.Eventually(t, func() bool { s, _ := snapshot(); return len(s) >= aTicks+3 }, waitFor, time.Millisecond)
	stopB()

	s, owner := snapshot()
	for i, seq := range s {
		require.Equal(t, uint64(i+1), seq, "seqs %v", s)
	}
	require.Equal(t, "a", owner[1])
	require.Equal(t, "b", owner[s[len(s)-1]])
}

// Redis loses the counter (a restore from an older snapshot, FLUSHALL): the
// holder goes on above its own last seq, and a standby that takes over goes
// on above the last seq it saw.
func TestRedisLeaseSeqNeverGoesBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := client(t, srv)
	ctx := context.Background()
	a := NewRedisLease(rdb, LeaseOptions{Prefix: "t", Every: time.Hour})
	b := NewRedisLease(client(t, srv), LeaseOptions{Prefix: "t", Every: time.Hour})
	next := func(l *RedisLease, wantHeld bool) uint64 {
		t.Helper()
		seq, held, err := l.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, wantHeld, held)
		return seq
	}
	for range 5 {
		next(a, true)
	}
	require.NoError(t, rdb.Set(ctx, "t:tick:seq", 2, 0).Err()) // an older counter
	require.Equal(t, uint64(6), next(a, true))

	next(b, false) // b sees the counter at 6
	require.NoError(t, rdb.FlushAll(ctx).Err())
	require.Equal(t, uint64(7), next(b, true), "b took the flushed lease")
}
