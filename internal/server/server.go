// Package server assembles ssehub: go-zero's rest.Server with its routes,
// the service context, and the http.Server settings a streaming service needs.
package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest"

	"ssehub/internal/apierr"
	"ssehub/internal/auth"
	"ssehub/internal/config"
	"ssehub/internal/handler"
	"ssehub/internal/metrics"
	"ssehub/internal/stream"
	"ssehub/internal/svc"
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

	mu      sync.Mutex
	httpSrv *http.Server
}

// New builds a server from c.
func New(c config.Config) (*Server, error) {
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
	return &Server{rest: rs, Svc: svcCtx}, nil
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

// Start serves until the process is told to stop (or Stop is called); then
// every stream is ended before go-zero shuts the listener down. onListen, if
// set, is told the bound address, which matters with Port 0.
func (s *Server) Start(onListen func(net.Addr)) {
	s.Svc.Start()
	conf := s.Svc.Config.Sse
	s.rest.StartWithOpts(func(hs *http.Server) {
		// rest.WithTimeout(0) on /sse switches off the server-wide read and
		// write timeouts, so slow-header clients are bounded here instead.
		hs.ReadHeaderTimeout = conf.ReadHeaderTimeout
		hs.IdleTimeout = conf.IdleTimeout
		// Room for a full topic list (Sse.MaxTopics) and a long Last-Event-ID,
		// so those get ssehub's JSON answers; beyond it the server answers 431.
		hs.MaxHeaderBytes = maxHeaderBytes
		hs.ErrorLog = nil
		hs.ConnContext = stream.ConnContext(conf.SendBuffer)
		// Outside go-zero's router, so its access log sees requests with
		// their credentials already taken out.
		hs.Handler = auth.Redact(s.Svc.Config.Auth.Cookie, hs.Handler)
		// 4/5 of the route timeout, as go-zero sizes ReadTimeout.
		hs.Handler = bodyDeadline(4*time.Duration(s.Svc.Config.Timeout)*time.Millisecond/5,
			conf.MaxEventBytes, hs.Handler)
		hs.BaseContext = func(l net.Listener) context.Context {
			logx.Infow("ssehub listening", logx.Field("addr", l.Addr().String()))
			if onListen != nil {
				onListen(l.Addr())
			}
			return context.Background()
		}
		s.mu.Lock()
		s.httpSrv = hs
		s.mu.Unlock()
	})
	// Taken-over streams are not net/http's: let them get their last frame
	// before the process may exit.
	s.Svc.Drain()
}

// Stop ends every stream and closes the listener; for tests, which cannot
// send the process a signal per server.
func (s *Server) Stop() {
	s.Svc.Stop()
	s.mu.Lock()
	hs := s.httpSrv
	s.mu.Unlock()
	if hs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		logx.Errorw("shutdown", logx.Field("error", err.Error()))
		_ = hs.Close()
	}
}
