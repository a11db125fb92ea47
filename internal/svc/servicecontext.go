// Package svc holds what every handler shares: the config, the event log and
// the hub that fans it out.
package svc

import (
	"context"
	"syscall"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/proc"
	"github.com/zeromicro/go-zero/core/threading"

	"ssehub/internal/config"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/hub"
	"ssehub/internal/metrics"
	"ssehub/internal/ticker"
)

// descriptorReserve is kept free of streams for listeners, Redis, logs and
// the health checks, when MaxClients is derived from the descriptor limit.
const descriptorReserve = 100

// ServiceContext is shared by the handlers.
type ServiceContext struct {
	Config     config.Config
	MaxClients int
	Log        eventlog.Log
	Hub        *hub.Hub
	Security

	ctx    context.Context
	cancel context.CancelFunc
}

// NewServiceContext builds the log and the hub; Start runs them.
func NewServiceContext(c config.Config) *ServiceContext {
	maxClients := c.Sse.MaxClients
	if maxClients == 0 {
		maxClients = derivedMaxClients()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &ServiceContext{
		Config:     c,
		MaxClients: maxClients,
		Log:        eventlog.NewMemory(c.Sse.Replay.Size, c.Sse.Replay.MaxAge),
		Hub: hub.New(hub.Options{
			MaxClients:   maxClients,
			ClientBuffer: c.Sse.ClientBuffer,
			Heartbeat:    c.Sse.HeartbeatInterval,
			Observer:     metrics.Hub{},
		}),
		ctx:    ctx,
		cancel: cancel,
	}
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
	threading.GoSafe(func() {
		if err := s.Log.Run(s.ctx, s.Hub.Deliver); err != nil {
			logx.Errorw("event log stopped", logx.Field("error", err.Error()))
		}
	})
	if s.Config.Sse.TickInterval > 0 {
		threading.GoSafe(func() {
			ticker.Run(s.ctx, s.Config.Sse.TickInterval, func(ctx context.Context, m eventlog.Message) error {
				_, _, err := s.Publish(ctx, m)
				return err
			})
		})
	}
	proc.AddWrapUpListener(s.Hub.Drain)
}

// Stop ends the hub, the log and the ticker.
func (s *ServiceContext) Stop() {
	s.Hub.Drain()
	s.cancel()
}

// Publish appends m to the log and counts it.
func (s *ServiceContext) Publish(ctx context.Context, m eventlog.Message) (eventid.ID, bool, error) {
	id, dup, err := s.Log.Append(ctx, m)
	if err == nil && !dup {
		metrics.Published(m.Topic)
	}
	return id, dup, err
}

// Ready reports whether the service takes new streams.
func (s *ServiceContext) Ready() bool {
	return !s.Hub.Draining()
}
