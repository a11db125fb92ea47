package handler

import (
	"net/http"
	"time"

	"ssehub/internal/apierr"
	"ssehub/internal/limiter"
)

// unauthorized answers a missing or bad credential; the message says what
// was wrong, never what was sent.
func unauthorized(err error) error {
	return apierr.New(http.StatusUnauthorized, "unauthorized", err.Error())
}

func forbiddenTopic(topic, what string) error {
	return apierr.New(http.StatusForbidden, "topic_forbidden", "the token does not allow "+what+" topic "+topic)
}

func rateLimited(r *limiter.Rate) error {
	return &apierr.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "too many requests for this token or address; slow down", RetryAfter: r.RetryAfter()}
}

// seconds rounds d up to whole seconds, for expiresIn.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
