package config

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"ssehub/internal/topic"
)

// ErrInvalid says a setting is out of range; the message names its key.
var ErrInvalid = errors.New("invalid configuration")

// Validate checks every duration and the cross-field rules that go-zero's
// tags cannot express. go-zero's conf calls it when it loads a file, and
// server.New calls it again for configs built in code, so a bad value stops
// the service at start with the key's name instead of misbehaving later.
func (c Config) Validate() error {
	errs := []error{
		positive("Timeout", time.Duration(c.Timeout)*time.Millisecond),
		// 0 is go-zero's default (ShutdownWait).
		notNegative("Shutdown.WaitTime", c.Shutdown.WaitTime),
		// 0 means off for these two.
		notNegative("Sse.TickInterval", c.Sse.TickInterval),
		notNegative("Sse.HeartbeatInterval", c.Sse.HeartbeatInterval),
		positive("Sse.Retry", c.Sse.Retry),
		// Without it, a client that stops reading holds its stream forever.
		positive("Sse.WriteTimeout", c.Sse.WriteTimeout),
		positive("Sse.ReadHeaderTimeout", c.Sse.ReadHeaderTimeout),
		positive("Sse.IdleTimeout", c.Sse.IdleTimeout),
		positive("Sse.Replay.MaxAge", c.Sse.Replay.MaxAge),
		trustedProxies(c.Sse.TrustedProxies),
		defaultTopics(c.Sse.DefaultTopics, c.Sse.MaxTopics),
	}
	if c.Auth.Enabled {
		errs = append(errs, positive("Auth.TicketTTL", c.Auth.TicketTTL))
	}
	return errors.Join(errs...)
}

// defaultShutdownWait is go-zero's force-quit time (core/proc), which
// applies when the config has no Shutdown block.
const defaultShutdownWait = 5500 * time.Millisecond

// ShutdownWait is how long stopping may take in all, from the signal to the
// exit: Shutdown.WaitTime, or go-zero's default when it is not set.
func (c Config) ShutdownWait() time.Duration {
	if c.Shutdown.WaitTime > 0 {
		return c.Shutdown.WaitTime
	}
	return defaultShutdownWait
}

// BodyTimeout bounds the arrival of a request body: 4/5 of go-zero's
// Timeout, as go-zero sizes http.Server.ReadTimeout.
func (c Config) BodyTimeout() time.Duration {
	return 4 * time.Duration(c.Timeout) * time.Millisecond / 5
}

// AnswerTimeout bounds the writing of an answer: 11/10 of go-zero's
// Timeout, as go-zero sizes http.Server.WriteTimeout. A stream replaces it
// with Sse.WriteTimeout before each of its writes.
func (c Config) AnswerTimeout() time.Duration {
	return 11 * time.Duration(c.Timeout) * time.Millisecond / 10
}

func positive(key string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: %s must be positive, got %v", ErrInvalid, key, d)
	}
	return nil
}

func notNegative(key string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%w: %s must be 0 or positive, got %v", ErrInvalid, key, d)
	}
	return nil
}

// defaultTopics must be valid topics, no more than a stream may have:
// otherwise every stream that names no topic would get 400.
func defaultTopics(list []string, limit int) error {
	if len(list) > limit {
		return fmt.Errorf("%w: Sse.DefaultTopics has %d topics, more than Sse.MaxTopics (%d)", ErrInvalid, len(list), limit)
	}
	for _, t := range list {
		if err := topic.Valid(t); err != nil {
			return fmt.Errorf("%w: Sse.DefaultTopics entry %q: %w", ErrInvalid, t, err)
		}
	}
	return nil
}

// trustedProxies refuses entries that are not addresses or CIDRs, and a
// prefix of length 0, which would let any client name its own address in
// X-Forwarded-For and so dodge every per-address limit.
func trustedProxies(list []string) error {
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if _, aerr := netip.ParseAddr(s); aerr != nil {
				return fmt.Errorf("%w: Sse.TrustedProxies entry %q is not an IP address or CIDR prefix", ErrInvalid, s)
			}
			continue
		}
		if p.Bits() == 0 {
			return fmt.Errorf("%w: Sse.TrustedProxies entry %q trusts every address; list the proxies", ErrInvalid, s)
		}
	}
	return nil
}
