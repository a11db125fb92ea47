package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/apierr"
)

// bodyDeadline reads the start of a request body, up to limit+1 bytes,
// under a deadline, before go-zero's router sees the request.
//
// rest.WithTimeout(0) on /sse switches the http.Server's ReadTimeout off for
// every route, and go-zero's per-route timeout cannot interrupt a body read
// (nor the server's read of an unread body before it answers), so a client
// that trickles its body would hold its connection and goroutine forever.
// The read happens here because a deadline hit inside the route also
// cancels the request context, and go-zero's timeout handler would then
// race the route to answer. Requests without a body are left alone: a
// deadline would end a stream.
func bodyDeadline(d time.Duration, limit int64, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		head, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			logx.WithContext(r.Context()).Infow("request body timed out",
				logx.Field("path", r.URL.Path), logx.Field("remote", r.RemoteAddr))
			apierr.Write(w, r, apierr.New(http.StatusRequestTimeout, "timeout", "the body did not arrive in time"))
			return
		case err != nil:
			apierr.Write(w, r, apierr.New(http.StatusBadRequest, "bad_body", "the body could not be read"))
			return
		case int64(len(head)) <= limit:
			// All of it is here: nothing left to wait for.
			_ = rc.SetReadDeadline(time.Time{})
		}
		r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		next.ServeHTTP(w, r)
	})
}

type readCloser struct {
	io.Reader
	io.Closer
}
