package svc

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/config"
)

// redisTimeout bounds one Redis dial, read or write, so a publish against an
// unreachable Redis fails fast with 503 instead of hanging.
const redisTimeout = 2 * time.Second

var setRedisLogger sync.Once

// newRedisClient is the process's one Redis pool, shared by the log and the
// ticker lease. go-redis retries are off: a retried append whose first reply
// was lost would append twice; the reader retries on its own. A failed dial
// is not retried either: the caller answers 503 at once.
func newRedisClient(c config.RedisConf) *redis.Client {
	setRedisLogger.Do(func() { redis.SetLogger(redisLogger{}) })
	opts := &redis.Options{
		Addr:            c.Addr,
		Password:        c.Password,
		DialTimeout:     redisTimeout,
		ReadTimeout:     redisTimeout,
		WriteTimeout:    redisTimeout,
		MaxRetries:      -1,
		DialerRetries:   1,
		DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
	if c.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewClient(opts)
}

// redisLogger sends go-redis's own messages (dial failures and the like)
// through logx instead of the standard logger.
type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	logx.WithContext(ctx).Infow("redis client", logx.Field("message", fmt.Sprintf(format, v...)))
}
