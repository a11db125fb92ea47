package svc

import (
	"ssehub/internal/auth"
	"ssehub/internal/config"
	"ssehub/internal/limiter"
)

// maxRateKeys bounds how many tokens (or addresses) have a rate bucket at
// once; the least recently used go first.
const maxRateKeys = 100_000

// Security guards the routes: who may do what, and how much of it.
type Security struct {
	// Auth is nil while Auth is off.
	Auth         *auth.Authenticator
	ClientIP     *limiter.ClientIP
	StreamsPerIP *limiter.Counter
	PublishRate  *limiter.Rate
	TicketRate   *limiter.Rate
}

// NewSecurity builds the authenticator and the limiters of c.
func NewSecurity(c config.Config) (Security, error) {
	a, err := auth.New(c.Auth)
	if err != nil {
		return Security{}, err
	}
	clientIP, err := limiter.NewClientIP(c.Sse.TrustedProxies)
	if err != nil {
		return Security{}, err
	}
	pub, err := limiter.NewRate(limiter.RateOptions{Name: "publish-rate", PerSecond: c.Sse.PublishRate,
		Burst: c.Sse.PublishBurst, MaxKeys: maxRateKeys})
	if err != nil {
		return Security{}, err
	}
	tickets, err := limiter.NewRate(limiter.RateOptions{Name: "ticket-rate", PerSecond: c.Sse.PublishRate,
		Burst: c.Sse.PublishBurst, MaxKeys: maxRateKeys})
	if err != nil {
		return Security{}, err
	}
	return Security{
		Auth:         a,
		ClientIP:     clientIP,
		StreamsPerIP: limiter.NewCounter(c.Sse.MaxClientsPerIP),
		PublishRate:  pub,
		TicketRate:   tickets,
	}, nil
}
