package auth

import (
	"context"
	"time"

	"ssehub/internal/auth/credentials"
	"ssehub/internal/config"
)

// maxTickets bounds the outstanding tickets; beyond it the oldest go.
const maxTickets = 100_000

// Authenticator turns a request's credentials into an Identity. Each request
// is checked once, when it arrives; events are never checked.
type Authenticator struct {
	verifier *Verifier
	tickets  *Tickets
}

// New returns nil when c is not enabled: the routes are then open (see
// Sse.PublishOpen for publishing).
func New(c config.AuthConf) (*Authenticator, error) {
	if !c.Enabled {
		return nil, nil
	}
	v, err := NewVerifier(c.Secret, c.PrevSecret)
	if err != nil {
		return nil, err
	}
	t, err := NewTickets(c.TicketTTL, maxTickets)
	if err != nil {
		return nil, err
	}
	return &Authenticator{verifier: v, tickets: t}, nil
}

// Stream authenticates a stream request: a ticket if one is given, else the
// bearer token, else the cookie. A credential that is present but bad is an
// error even if another one would pass: clients learn about the bad one.
func (a *Authenticator) Stream(ctx context.Context) (*Identity, error) {
	c := credentials.FromContext(ctx)
	if c.Ticket != "" {
		return a.tickets.Redeem(c.Ticket)
	}
	return a.token(c)
}

// Publish authenticates a publish request: the bearer token, else the
// cookie. A cross-site form cannot publish with the cookie: /publish takes
// only application/json, which browsers preflight, and CORS answers only
// listed origins.
func (a *Authenticator) Publish(ctx context.Context) (*Identity, error) {
	return a.token(credentials.FromContext(ctx))
}

// Bearer authenticates with the Authorization header only; tickets are
// minted from it, so a cookie riding along on a cross-site request cannot.
func (a *Authenticator) Bearer(ctx context.Context) (*Identity, error) {
	return a.verifier.Verify(credentials.FromContext(ctx).Bearer)
}

// Issue returns a stream ticket for id and its lifetime.
func (a *Authenticator) Issue(id *Identity) (string, time.Duration, error) {
	return a.tickets.Issue(id)
}

func (a *Authenticator) token(c credentials.Credentials) (*Identity, error) {
	if c.Bearer != "" {
		return a.verifier.Verify(c.Bearer)
	}
	return a.verifier.Verify(c.Cookie)
}
