package redislog

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/logtest"
	"ssehub/internal/redistest"
)

// A pooled connection can die unseen (a Redis restart racing the pool's
// check): a replay tries once more on a fresh one rather than resetting a
// client whose history Redis still has. An append does not, since its lost
// answer may follow an append that happened: the publisher retries, with
// its idempotency key.
func TestRedisReplayOutlivesAConnectionThatDiedUnseen(t *testing.T) {
	t.Parallel()
	relay := redistest.StartRelay(t, redistest.Start(t).Addr)
	// One connection, so the one the relay breaks is the one the pool hands out.
	rdb := redis.NewClient(&redis.Options{Addr: relay.Addr, MaxRetries: -1, PoolSize: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	l := New(rdb, Options{Prefix: "t", Size: 100})
	ids := logtest.AppendTo(t, l, "a", 3)

	relay.Break()
	evs, pos, err := logtest.ReplayAll(t, l, ids[0], ids[2], logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Known, pos)
	require.Len(t, evs, 2)
	require.Equal(t, ids[2], evs[1].ID)

	relay.Break()
	_, _, err = l.Append(context.Background(), event.Message{Topic: "a", Data: []byte("x")})
	require.ErrorIs(t, err, eventlog.ErrUnavailable)
	_, _, err = l.Append(context.Background(), event.Message{Topic: "a", Data: []byte("y")})
	require.NoError(t, err, "the next append has a fresh connection")
	length, err := rdb.XLen(context.Background(), "t:events").Result()
	require.NoError(t, err)
	require.EqualValues(t, 4, length, "the append whose connection broke never reached Redis")
}

// Redis comes back from a restart, but go-redis, whose dials failed while
// it was down, fails every command at once until its probe (once a second)
// reaches it again: a resume then waits for Redis, briefly, instead of
// resetting a client whose history Redis has. Redis that stays down still
// gets the client its reset, within the wait.
func TestRedisResumeWaitsOutARestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// With one connection, one failed dial puts the pool in that state.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, PoolSize: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	l := New(rdb, Options{Prefix: "t", Size: 100})
	ids := logtest.AppendTo(t, l, "a", 3)

	srv.Stop(t, true)
	start := time.Now()
	_, _, err := logtest.ReplayAll(t, l, ids[0], ids[2], logtest.All)
	require.ErrorIs(t, err, eventlog.ErrUnavailable, "Redis stayed down")
	require.Less(t, time.Since(start), placeWait+2*time.Second, "the wait is bounded")

	srv.Start(t)
	evs, pos, err := logtest.ReplayAll(t, l, ids[0], ids[2], logtest.All)
	require.NoError(t, err)
	require.Equal(t, eventlog.Known, pos)
	require.Len(t, evs, 2)
	require.Equal(t, ids[2], evs[1].ID)
}
