// Package server assembles ssehub: go-zero's rest.Server with its routes,
// the service context, and the http.Server settings a streaming service needs.
package server

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/core/proc"
	"github.com/zeromicro/go-zero/rest"

	"ssehub/internal/apierr"
	"ssehub/internal/config"
	"ssehub/internal/event"
	"ssehub/internal/handler"
	"ssehub/internal/metrics"
	"ssehub/internal/svc"
	"ssehub/internal/ticker"
	"ssehub/static"
)

// connsReserve lets go-zero's per-route MaxConns sit above Sse.MaxClients,
// so the stream limit answers first, with a JSON 503 instead of an empty one.
const connsReserve = 1000

// maxHeaderBytes bounds the request line and headers.
const maxHeaderBytes = 128 << 10

// Server is one ssehub instance.
type Server struct {
	rest *rest.Server
	Svc  *svc.ServiceContext

	stopOnce sync.Once
	stopping chan struct{} // closed by Stop
	done     chan struct{} // closed when Start returns
}

// New builds a server from c.
func New(c config.Config) (*Server, error) {
	// conf.Load validates files; a config built in code is checked here.
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := c.SetUp(); err != nil {
		return nil, err
	}
	metrics.Enable()
	apierr.Install()
	cors, err := corsOption(c.Cors)
	if err != nil {
		return nil, err
	}
	svcCtx := svc.NewServiceContext(c)
	if svcCtx.Security, err = svc.NewSecurity(c); err != nil {
		return nil, err
	}
	adapt(&c, svcCtx.MaxClients)

	// The not-found and not-allowed handlers come after CORS, which would
	// otherwise replace the not-allowed one with its own empty answer.
	rs, err := rest.NewServer(c.RestConf,
		rest.WithFileServer("/static", static.Assets),
		cors,
		rest.WithNotFoundHandler(apierr.Handler(apierr.New(http.StatusNotFound, "not_found", "no such route"))),
		rest.WithNotAllowedHandler(apierr.Handler(apierr.New(http.StatusMethodNotAllowed, "method_not_allowed",
			"the route does not take this method"))),
	)
	if err != nil {
		return nil, err
	}
	handler.RegisterHandlers(rs, svcCtx)
	return &Server{rest: rs, Svc: svcCtx, stopping: make(chan struct{}), done: make(chan struct{})}, nil
}

// adapt turns off the parts of go-zero's default chain that are built for
// short requests and answer with empty bodies: the breaker and the load
// shedder count every open stream as a slow in-flight request and would start
// rejecting new streams, and the MaxBytes check answers 413 without a body
// (the routes that read bodies bound them and answer in JSON). Verbose
// logging copies every response body into memory, for a stream without end.
func adapt(c *config.Config, maxClients int) {
	if c.Verbose {
		logx.Infow("Verbose is ignored: it would copy every stream into memory")
		c.Verbose = false
	}
	c.Middlewares.Breaker = false
	c.Middlewares.Shedding = false
	c.Middlewares.MaxBytes = false
	c.MaxConns = max(c.MaxConns, maxClients+connsReserve)
}

// drainShare is the part of Shutdown.WaitTime that streams and requests
// get to end by themselves, in tenths; the last tenth is left for closing
// what remains and exiting before go-zero's force-quit at WaitTime.
const drainShare = 9

// Start starts every component in order and serves until the process is
// told to stop (SIGTERM, SIGINT) or Stop is called; then it drains and stops
// them in reverse within Shutdown.WaitTime and returns. onListen, if set, is
// told the bound address, which matters with Port 0.
func (s *Server) Start(onListen func(net.Addr)) error {
	defer close(s.done)
	web := newHTTPServer(s, onListen)
	lc := lifecycle{parts: append(s.components(), web.component())}
	err := lc.start()
	if err == nil {
		select {
		case <-proc.Done():
		case <-s.stopping:
		case err = <-web.served:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Svc.Config.ShutdownWait()*drainShare/10)
	defer cancel()
	logx.Infow("ssehub stopping")
	lc.stop(ctx)
	return err
}

// components are the parts under the HTTP server, in start order. Stopping
// runs backwards: the ticker stops, the hub ends every stream with a final
// retry and refuses new ones, the pool waits until its taken-over streams
// have their last frame; then the goroutines end and Redis closes.
func (s *Server) components() []component {
	sc := s.Svc
	parts := []component{
		{name: "redis", stop: func(context.Context) { s.closeRedis() }},
		background("event log", func(ctx context.Context) {
			if err := sc.Log.Run(ctx, sc.Hub.Deliver); err != nil {
				logx.Errorw("event log stopped", logx.Field("error", err.Error()))
			}
		}),
	}
	if sc.Streams.Pool != nil {
		pool := background("stream pool", sc.Streams.Pool.Run)
		pool.drain = sc.Streams.Pool.Wait
		parts = append(parts, pool)
	}
	hub := background("hub", sc.Hub.Run)
	hub.drain = func(context.Context) { sc.Hub.Drain() }
	parts = append(parts, hub)
	if sc.Config.Sse.TickInterval > 0 {
		parts = append(parts, background("ticker", s.tick))
	}
	return parts
}

// tick publishes ticks: alone in memory mode, under a Redis lease shared
// with the other instances in Redis mode.
func (s *Server) tick(ctx context.Context) {
	sc := s.Svc
	every := sc.Config.Sse.TickInterval
	publish := func(ctx context.Context, m event.Message) error {
		_, _, err := sc.Publish(ctx, m)
		return err
	}
	o := ticker.Options{Every: every, Publish: publish}
	if sc.Redis != nil {
		o.Lease = ticker.NewRedisLease(sc.Redis, ticker.LeaseOptions{Prefix: sc.Config.Redis.KeyPrefix, Every: every})
	}
	ticker.Run(ctx, o)
}

func (s *Server) closeRedis() {
	if s.Svc.Redis == nil {
		return
	}
	if err := s.Svc.Redis.Close(); err != nil {
		logx.Errorw("closing redis", logx.Field("error", err.Error()))
	}
}

// Stop makes Start stop and return, and waits for it; for tests, which
// cannot send the process a signal per server. Call it only after Start.
func (s *Server) Stop() {
	s.stopOnce.Do(func() { close(s.stopping) })
	<-s.done
}
