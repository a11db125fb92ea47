// Package apierr is the JSON error every route answers with:
// {"code":"<machine word>","message":"<what was wrong>"}.
package apierr

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest/httpx"
)

// statusClientClosed is nginx's (and go-zero's) status for a request whose
// client went away; nobody reads it, but the access log does.
const statusClientClosed = 499

// Error is an API error with its HTTP status.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

// body is what goes on the wire; httpx writes a body that is an error as
// plain text, so the JSON body is a separate type.
type body struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}

// New returns an API error.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Unavailable is a 503 that tells the client when to come back.
func Unavailable(code, message string, retryAfter time.Duration) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: code, Message: message, RetryAfter: retryAfter}
}

// Install makes httpx.ErrorCtx write every error as JSON; anything that is
// not an *Error is logged and answered as a 500 without internals.
func Install() {
	httpx.SetErrorHandlerCtx(func(ctx context.Context, err error) (int, any) {
		var e *Error
		if errors.As(err, &e) {
			return e.Status, body{Code: e.Code, Message: e.Message}
		}
		// go-zero's timeout handler reports a request that outran the
		// route's Timeout, or whose client left, with the context's error.
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return http.StatusServiceUnavailable, body{Code: "timeout", Message: "the request took longer than the route's Timeout"}
		case errors.Is(err, context.Canceled):
			return statusClientClosed, body{Code: "canceled", Message: "the client closed the request"}
		}
		logx.WithContext(ctx).Errorw("internal error", logx.Field("error", err.Error()))
		return http.StatusInternalServerError, body{Code: "internal", Message: "internal error"}
	})
}

// Write answers r with err, setting Retry-After where it applies.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	httpx.ErrorCtx(r.Context(), w, err)
}

// Handler answers every request with err, for the not-found and
// method-not-allowed routes.
func Handler(err *Error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Write(w, r, err)
	})
}
