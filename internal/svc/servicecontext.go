// Package svc holds what every handler shares: the config, the event log and
// the hub that fans it out.
package svc

import (
	"context"
	"net/http"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/config"
	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/redislog"
	"ssehub/internal/hub"
	"ssehub/internal/metrics"
	"ssehub/internal/pool"
	"ssehub/internal/session"
	"ssehub/internal/ticker"
)

// descriptorReserve is kept free of streams for listeners, Redis, logs and
// the health checks, when MaxClients is derived from the descriptor limit.
const descriptorReserve = 100

// maxPooled bounds the taken-over streams, whose pool queue is allocated
// up front; streams beyond it keep their goroutines.
const maxPooled = 1 << 20

// ServiceContext is shared by the handlers: it builds the parts and holds
// them; internal/server runs and stops them.
type ServiceContext struct {
	Config     config.Config
	MaxClients int
	Log        eventlog.Log
	Hub        *hub.Hub
	// Streams runs every stream's session.
	Streams *session.Streams
	// Observer counts what happens; Metrics serves what it counted.
	Observer metrics.Observer
	Metrics  http.Handler
	Security

	// Redis is the process's one Redis pool, shared by the log and the
	// ticker's lease; nil in memory mode.
	Redis *redis.Client
}

// NewServiceContext builds the log, the hub and the writers.
func NewServiceContext(c config.Config) *ServiceContext {
	maxClients := c.Sse.MaxClients
	if maxClients == 0 {
		maxClients = derivedMaxClients()
	}
	m := metrics.New(metrics.Options{
		Topics: metrics.NewTopicLabels(c.Sse.MetricTopics, append([]string{ticker.Topic}, c.Sse.DefaultTopics...)...),
		Redis:  c.Redis.Enabled(),
	})
	h := hub.New(hub.Options{
		MaxClients:   maxClients,
		ClientBuffer: c.Sse.ClientBuffer,
		Heartbeat:    c.Sse.HeartbeatInterval,
		Observer:     m,
	})
	s := &ServiceContext{
		Config:     c,
		MaxClients: maxClients,
		Hub:        h,
		Observer:   m,
		Metrics:    m.Handler(),
	}
	if c.Redis.Enabled() {
		s.Redis = newRedisClient(c.Redis)
		s.Log = redislog.New(s.Redis, redislog.Options{
			Prefix: c.Redis.KeyPrefix,
			Size:   c.Sse.Replay.Size,
			MaxAge: c.Sse.Replay.MaxAge,
			OnUp:   m.RedisUp,
			// Cutting every client sends each back with its own Last-Event-ID,
			// and resume then places it (Gone or Unknown: a reset) against what
			// Redis still holds.
			OnLost: func() { h.CutAll(hub.ReasonResync) },
		})
	} else {
		s.Log = eventlog.NewMemory(eventlog.MemoryOptions{Size: c.Sse.Replay.Size, MaxAge: c.Sse.Replay.MaxAge})
	}
	s.Streams = &session.Streams{Hub: h, Log: s.Log, Observer: m, Retry: c.Sse.Retry, WriteTimeout: c.Sse.WriteTimeout}
	if c.Sse.Hijack {
		s.Streams.Pool = pool.New(pool.Options{
			Hub: h, Log: s.Log, Capacity: min(maxClients, maxPooled), Writers: c.Sse.Writers,
			Retry: c.Sse.Retry, WriteTimeout: c.Sse.WriteTimeout,
		})
	}
	return s
}

// derivedMaxClients leaves descriptorReserve descriptors of the process limit
// (which Go raises to the hard limit at start) for everything but streams.
func derivedMaxClients() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logx.Errorw("cannot read descriptor limit", logx.Field("error", err.Error()))
		return 1000
	}
	return max(int(lim.Cur)-descriptorReserve, 1)
}

// Publish appends m to the log and counts it.
func (s *ServiceContext) Publish(ctx context.Context, m event.Message) (eventid.ID, bool, error) {
	id, dup, err := s.Log.Append(ctx, m)
	if err == nil && !dup {
		s.Observer.Published(m.Topic)
	}
	return id, dup, err
}

// Ready reports whether the service takes new streams and publishes: not
// while draining, nor in Redis mode while Redis is unreachable.
func (s *ServiceContext) Ready() bool {
	if up, ok := s.Log.(interface{ Up() bool }); ok && !up.Up() {
		return false
	}
	return !s.Hub.Draining()
}
