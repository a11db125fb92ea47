package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/auth/credentials"
	"ssehub/internal/server/deadline"
	"ssehub/internal/socket"
)

// errNotListening says serving ended before the listener was up.
var errNotListening = errors.New("the server stopped before it listened")

// httpServer is go-zero's rest server as a component: it serves once it
// listens, stops accepting when drained, and when stopped closes every
// connection still open, so no client can hold the exit.
type httpServer struct {
	srv      *Server
	onListen func(net.Addr)

	hs        *http.Server // set before listening closes
	listening chan struct{}
	once      sync.Once
	served    chan error // what serving ended with
	shutdown  chan error // what hs.Shutdown returned
}

func newHTTPServer(srv *Server, onListen func(net.Addr)) *httpServer {
	return &httpServer{srv: srv, onListen: onListen, listening: make(chan struct{}),
		served: make(chan error, 1), shutdown: make(chan error, 1)}
}

func (h *httpServer) component() component {
	return component{name: "http", start: h.start, drain: h.drain, stop: h.stop}
}

func (h *httpServer) start() error {
	go func() {
		defer func() {
			// go-zero panics when it cannot listen.
			if p := recover(); p != nil {
				h.served <- fmt.Errorf("serve: %v", p)
			}
		}()
		h.srv.rest.StartWithOpts(h.configure)
		h.served <- errNotListening
	}()
	select {
	case <-h.listening:
		return nil
	case err := <-h.served:
		return err
	}
}

// configure sets what go-zero leaves to http.Server's defaults.
func (h *httpServer) configure(hs *http.Server) {
	c := h.srv.Svc.Config
	// rest.WithTimeout(0) on /sse switches off the server-wide read and
	// write timeouts, so slow-header and idle clients are bounded here and
	// requests and answers by deadlines.
	hs.ReadHeaderTimeout = c.Sse.ReadHeaderTimeout
	hs.IdleTimeout = c.Sse.IdleTimeout
	// Room for a full topic list (Sse.MaxTopics) and a long Last-Event-ID,
	// so those get ssehub's JSON answers; beyond it the server answers 431.
	hs.MaxHeaderBytes = maxHeaderBytes
	hs.ErrorLog = nil
	hs.ConnContext = socket.ConnContext(c.Sse.SendBuffer)
	// Outside go-zero's router, so its access log sees requests with
	// their credentials already taken out.
	hs.Handler = credentials.Redact(c.Auth.Cookie, hs.Handler)
	hs.Handler = deadline.Wrap(deadline.Options{
		Read: c.BodyTimeout(), Write: c.AnswerTimeout(), BodyLimit: c.Sse.MaxEventBytes,
	}, hs.Handler)
	hs.BaseContext = func(l net.Listener) context.Context {
		h.once.Do(func() {
			logx.Infow("ssehub listening", logx.Field("addr", l.Addr().String()))
			if h.onListen != nil {
				h.onListen(l.Addr())
			}
			close(h.listening)
		})
		return context.Background()
	}
	h.hs = hs
}

// drain stops accepting; the connections are left to end by ctx's deadline.
func (h *httpServer) drain(ctx context.Context) {
	go func() { h.shutdown <- h.hs.Shutdown(ctx) }()
}

// stop waits until every connection has ended or ctx's deadline, then
// closes what is left: a client that neither reads nor sends, a body that
// trickles, a stream that could not take its last frame.
func (h *httpServer) stop(ctx context.Context) {
	select {
	case err := <-h.shutdown:
		if err == nil {
			return
		}
	case <-ctx.Done():
	}
	logx.Infow("closing the connections still open at the shutdown deadline")
	if err := h.hs.Close(); err != nil {
		logx.Errorw("closing connections", logx.Field("error", err.Error()))
	}
}
