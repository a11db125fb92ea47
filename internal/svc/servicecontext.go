// Package svc holds what every handler shares: the config, the event log and
// the hub that fans it out.
package svc

import (
	"context"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/proc"
	"github.com/zeromicro/go-zero/core/threading"

	"ssehub/internal/config"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
	"ssehub/internal/metrics"
	"ssehub/internal/session"
	"ssehub/internal/stream"
	"ssehub/internal/ticker"
)

// descriptorReserve is kept free of streams for listeners, Redis, logs and
// the health checks, when MaxClients is derived from the descriptor limit.
const descriptorReserve = 100

// maxPooled bounds the taken-over streams, whose pool queue is allocated
// up front; streams beyond it keep their goroutines.
const maxPooled = 1 << 20

// drainWait bounds how long stopping waits for taken-over streams to get
// their last frame.
const drainWait = 5 * time.Second

// ServiceContext is shared by the handlers.
type ServiceContext struct {
	Config     config.Config
	MaxClients int
	Log        eventlog.Log
	Hub        *hub.Hub
	// Streams runs every stream's session.
	Streams *session.Streams
	Security

	redis  *redis.Client // nil in memory mode
	ctx    context.Context
	cancel context.CancelFunc
}

// NewServiceContext builds the log, the hub and the writers; Start runs them.
func NewServiceContext(c config.Config) *ServiceContext {
	maxClients := c.Sse.MaxClients
	if maxClients == 0 {
		maxClients = derivedMaxClients()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := hub.New(hub.Options{
		MaxClients:   maxClients,
		ClientBuffer: c.Sse.ClientBuffer,
		Heartbeat:    c.Sse.HeartbeatInterval,
		Observer:     metrics.Hub{},
	})
	s := &ServiceContext{
		Config:     c,
		MaxClients: maxClients,
		Hub:        h,
		ctx:        ctx,
		cancel:     cancel,
	}
	if c.Redis.Enabled() {
		s.redis = newRedisClient(c.Redis)
		s.Log = eventlog.NewRedis(s.redis, eventlog.RedisOptions{
			Prefix: c.Redis.KeyPrefix,
			Size:   c.Sse.Replay.Size,
			MaxAge: c.Sse.Replay.MaxAge,
			OnUp:   metrics.RedisUp,
			// Cutting every client sends each back with its own Last-Event-ID,
			// and resume then places it (Gone or Unknown: a reset) against what
			// Redis still holds.
			OnLost: func() { h.CutAll(hub.ReasonResync) },
		})
	} else {
		s.Log = eventlog.NewMemory(c.Sse.Replay.Size, c.Sse.Replay.MaxAge)
	}
	s.Streams = &session.Streams{Hub: h, Log: s.Log, Retry: c.Sse.Retry, WriteTimeout: c.Sse.WriteTimeout}
	if c.Sse.Hijack {
		s.Streams.Pool = stream.NewPool(stream.PoolOptions{
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

// Start runs the hub, the log's delivery and the ticker, and drains every
// stream when the process is told to stop: go-zero's graceful shutdown waits
// for idle connections, and a stream never is idle.
func (s *ServiceContext) Start() {
	threading.GoSafe(func() { s.Hub.Run(s.ctx) })
	if s.Streams.Pool != nil {
		threading.GoSafe(func() { s.Streams.Pool.Run(s.ctx) })
	}
	threading.GoSafe(func() {
		if err := s.Log.Run(s.ctx, s.Hub.Deliver); err != nil {
			logx.Errorw("event log stopped", logx.Field("error", err.Error()))
		}
	})
	if every := s.Config.Sse.TickInterval; every > 0 {
		publish := func(ctx context.Context, m eventlog.Message) error {
			_, _, err := s.Publish(ctx, m)
			return err
		}
		threading.GoSafe(func() {
			if s.redis == nil {
				ticker.Run(s.ctx, every, publish)
				return
			}
			ticker.RunShared(s.ctx, every, ticker.NewRedisLease(s.redis, s.Config.Redis.KeyPrefix, every), publish)
		})
	}
	proc.AddWrapUpListener(s.Drain)
}

// Drain ends every stream and waits, up to drainWait, until the taken-over
// ones have their last frame: net/http's shutdown does not see them.
func (s *ServiceContext) Drain() {
	s.Hub.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), drainWait)
	defer cancel()
	s.Streams.Pool.Wait(ctx)
}

// Stop ends the streams, the hub, the log and the ticker.
func (s *ServiceContext) Stop() {
	s.Drain()
	s.cancel()
	if s.redis != nil {
		if err := s.redis.Close(); err != nil {
			logx.Errorw("closing redis", logx.Field("error", err.Error()))
		}
	}
}

// Publish appends m to the log and counts it.
func (s *ServiceContext) Publish(ctx context.Context, m eventlog.Message) (eventid.ID, bool, error) {
	id, dup, err := s.Log.Append(ctx, m)
	if err == nil && !dup {
		metrics.Published(m.Topic)
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
