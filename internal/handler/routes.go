// Package handler binds ssehub's routes: the stream, publishing, the page,
// health and metrics.
package handler

import (
	"net/http"
	"time"

	"github.com/zeromicro/go-zero/rest"

	"ssehub/internal/apierr"
	"ssehub/internal/svc"
	"ssehub/static"
)

// retryAfter is the Retry-After of 503 answers.
const retryAfter = 2 * time.Second

// StreamPath is the route of the event stream.
const StreamPath = "/sse"

// RegisterHandlers adds every route to server.
func RegisterHandlers(server *rest.Server, svcCtx *svc.ServiceContext) {
	// WithSSE alone is not enough: go-zero's timeout handler only lets
	// through requests that say exactly "Accept: text/event-stream" (curl
	// says */*), so the stream would end in a 503 after Timeout. WithTimeout(0)
	// switches the timeout off for this route.
	server.AddRoute(rest.Route{Method: http.MethodGet, Path: StreamPath,
		Handler: streamGuard(svcCtx.Config.AnswerTimeout(), SseHandler(svcCtx))},
		rest.WithSSE(), rest.WithTimeout(0))

	server.AddRoutes([]rest.Route{
		{Method: http.MethodPost, Path: "/publish", Handler: PublishHandler(svcCtx)},
		{Method: http.MethodGet, Path: "/", Handler: redirectToPage},
		{Method: http.MethodGet, Path: "/static/index.html", Handler: static.ServePage},
		{Method: http.MethodGet, Path: "/healthz", Handler: HealthzHandler},
		{Method: http.MethodGet, Path: "/readyz", Handler: ReadyzHandler(svcCtx)},
		{Method: http.MethodGet, Path: "/metrics", Handler: svcCtx.Metrics.ServeHTTP},
	})
	if svcCtx.Auth != nil {
		server.AddRoute(rest.Route{Method: http.MethodPost, Path: "/tickets", Handler: TicketHandler(svcCtx)})
	}
}

// streamGuard runs before a stream subscribes or takes its address's slot.
// It refuses a request with a body: net/http reads an unread body before it
// writes the first byte of an answer, so a client that announces a body and
// never sends it would hold both, with no answer. And it puts back the write
// deadline (answer) that go-zero's WithSSE clears, so that a refusal cannot
// block on a client that does not read; an open stream sets its own before
// every write.
func streamGuard(answer time.Duration, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(answer))
		// ContentLength, not Body: go-zero's chain wraps the body, and a
		// chunked body has length -1.
		if r.ContentLength != 0 {
			// Closing after the answer spares net/http that read.
			w.Header().Set("Connection", "close")
			apierr.Write(w, r, apierr.New(http.StatusBadRequest, "bad_body", "GET "+StreamPath+" takes no body"))
			return
		}
		next(w, r)
	}
}

func redirectToPage(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/static/index.html", http.StatusFound)
}
