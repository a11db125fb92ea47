// Package deadline bounds every request's body read and answer write, in
// place of the http.Server timeouts the stream route switches off.
package deadline

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

// Options bound a request.
type Options struct {
	Read  time.Duration // for the whole body
	Write time.Duration // for the answer
	// BodyLimit is the largest body a route takes; more is left unread.
	BodyLimit int64
}

// Wrap bounds every request, in place of the http.Server's ReadTimeout and
// WriteTimeout, which rest.WithTimeout(0) on the stream route switches off
// for every route:
//
//   - a request body must arrive within Read. go-zero's per-route timeout
//     cannot interrupt a body read, nor net/http's own reads of an unread
//     body (before it writes the answer, and after the handler, to reuse the
//     connection), so a body that trickles, even a GET's, would hold the
//     connection and its goroutine forever. Bodies of methods that carry one
//     are read here, up to BodyLimit+1 bytes: a deadline hit inside the route
//     also cancels the request context, and go-zero's timeout handler would
//     then race the route to answer. Other bodies stay unread, under the
//     deadline. Requests without a body get no read deadline: when it fired,
//     net/http would take it for the client leaving and cancel the request,
//     a stream's included.
//   - the answer must be written within Write, so a client that pipelines
//     requests and never reads cannot block a write forever. go-zero's
//     WithSSE clears it on the stream route, where handler.RegisterHandlers
//     sets it again; an open stream sets its own before every write
//     (Sse.WriteTimeout).
func Wrap(o Options, next http.Handler) http.Handler {
	read, write, limit := o.Read, o.Write, o.BodyLimit
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		hasBody := r.Body != nil && r.Body != http.NoBody
		// An error means the writer cannot take deadlines (none of net/http's
		// HTTP/1 and HTTP/2 writers); there is nothing better to do then.
		if !hasBody {
			_ = rc.SetWriteDeadline(time.Now().Add(write))
			next.ServeHTTP(w, r)
			return
		}
		// The answer to a request with a body may only start once the body
		// is in or its deadline passed (net/http reads an unread body before
		// it answers), so its write deadline starts after the read one.
		_ = rc.SetWriteDeadline(time.Now().Add(read + write))
		if err := rc.SetReadDeadline(time.Now().Add(read)); err != nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
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
			// All of it is here: nothing left to wait for, and the
			// deadline would otherwise cut net/http's watch for the client
			// leaving, which starts at the end of the body.
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
