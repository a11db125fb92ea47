package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zeromicro/go-zero/core/collection"
)

// ticketBytes is the entropy of a ticket: 256 bits.
const ticketBytes = 32

// ErrBadTicket says a ticket is unknown, used or expired; the three are not
// told apart.
var ErrBadTicket = errors.New("invalid ticket: unknown, already used or expired")

// Tickets are single-use stand-ins for a token in a stream URL, for clients
// (EventSource) that can set neither headers nor, cross-site, cookies. Only a
// hash of each ticket is kept, so a memory dump does not reveal usable ones.
type Tickets struct {
	ttl   time.Duration
	cache *collection.Cache
	now   func() time.Time
	// take makes Get-then-Del one step, so a ticket is redeemed once.
	take sync.Mutex
}

type ticket struct {
	id      *Identity
	expires time.Time
}

// NewTickets keeps up to limit outstanding tickets for ttl each; beyond
// limit the oldest are dropped.
func NewTickets(ttl time.Duration, limit int) (*Tickets, error) {
	cache, err := collection.NewCache(ttl, collection.WithLimit(limit), collection.WithName("tickets"))
	if err != nil {
		return nil, fmt.Errorf("ticket store: %w", err)
	}
	return &Tickets{ttl: ttl, cache: cache, now: time.Now}, nil
}

// Issue returns a new ticket for id and how long it lives: the TTL, cut
// short where the token expires sooner.
func (t *Tickets) Issue(id *Identity) (string, time.Duration, error) {
	raw := make([]byte, ticketBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", 0, fmt.Errorf("ticket: %w", err)
	}
	value := base64.RawURLEncoding.EncodeToString(raw)
	now := t.now()
	ttl := min(t.ttl, id.Expires.Sub(now))
	if ttl <= 0 {
		return "", 0, fmt.Errorf("%w: the token is expired", ErrInvalidToken)
	}
	t.cache.SetWithExpire(hash(value), ticket{id: id, expires: now.Add(ttl)}, ttl)
	return value, ttl, nil
}

// Redeem returns the identity a ticket was issued for and forgets it.
func (t *Tickets) Redeem(value string) (*Identity, error) {
	key := hash(value)
	t.take.Lock()
	v, ok := t.cache.Get(key)
	if ok {
		t.cache.Del(key)
	}
	t.take.Unlock()
	// The cache expires entries on a one-second wheel; the exact expiry is
	// checked here.
	if !ok || !t.now().Before(v.(ticket).expires) {
		return nil, ErrBadTicket
	}
	return v.(ticket).id, nil
}

func hash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return string(sum[:])
}
