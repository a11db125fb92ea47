package redislog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/logtest"
	"ssehub/internal/redistest"
)

func TestRedisContract(t *testing.T) {
	t.Parallel()
	logtest.Contract(t, func(t *testing.T, size int, maxAge time.Duration) eventlog.Log {
		return prompt{newTestRedis(t, redistest.Start(t), Options{Prefix: "t", Size: size, MaxAge: maxAge})}
	})
}

// newTestRedis builds a Redis log on srv with a client closed at cleanup.
func newTestRedis(t *testing.T, srv *redistest.Server, opts Options) *Log {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	require.NoError(t, rdb.ConfigSet(context.Background(), "stream-node-max-entries", fmt.Sprint(logtest.NodeEntries)).Err())
	return New(rdb, opts)
}

// prompt is a log whose Run ends as soon as its context does: a blocked
// XREAD ends when its connection closes, not on ctx.
type prompt struct{ *Log }

func (p prompt) Run(ctx context.Context, deliver func(*event.Event)) error {
	stop := context.AfterFunc(ctx, func() { _ = p.rdb.Close() })
	defer stop()
	return p.Log.Run(ctx, deliver)
}

// running is logtest.Running on l.
func running(t *testing.T, l *Log) func() []*event.Event {
	t.Helper()
	return logtest.Running(t, prompt{l})
}
