// Package auth checks the HS256 JWTs that guard /sse and /publish, issues
// single-use stream tickets, and keeps credentials out of the access log.
package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// MinSecretLen is the shortest HS256 secret accepted: RFC 7518 3.2 asks for
// a key at least as long as the hash.
const MinSecretLen = 32

var (
	// ErrNoToken says the request carries no credential.
	ErrNoToken = errors.New("no token: send Authorization: Bearer, the auth cookie, or a ticket")
	// ErrInvalidToken says the token failed verification.
	ErrInvalidToken = errors.New("invalid token")
	// ErrWeakSecret says the configured secret is too short.
	ErrWeakSecret = fmt.Errorf("Auth.Secret must be at least %d bytes (set SSEHUB_JWT_SECRET)", MinSecretLen)
)

// allowedMethods is the only algorithm accepted; "none" and the asymmetric
// algorithms (which a forged token could name to confuse key types) fail.
var allowedMethods = []string{jwt.SigningMethodHS256.Alg()}

// Grants is the ssehub claim: the topics a token may subscribe to and
// publish to.
type Grants struct {
	Subscribe []string `json:"subscribe,omitempty"`
	Publish   []string `json:"publish,omitempty"`
}

// Claims is the token payload: the registered claims and "ssehub".
type Claims struct {
	jwt.RegisteredClaims
	SSEHub Grants `json:"ssehub"`
}

// Identity is what a verified token (or a ticket made from one) allows.
type Identity struct {
	Subject   string
	Subscribe Patterns
	Publish   Patterns
	Expires   time.Time
	// Key identifies the token for rate limiting without keeping it.
	Key string
}

// Verifier checks tokens against the current secret and, during rotation,
// the previous one.
type Verifier struct {
	parser *jwt.Parser
	keys   [][]byte
}

// NewVerifier returns a verifier; prev may be empty.
func NewVerifier(secret, prev string) (*Verifier, error) {
	if len(secret) < MinSecretLen {
		return nil, ErrWeakSecret
	}
	keys := [][]byte{[]byte(secret)}
	if prev != "" {
		keys = append(keys, []byte(prev))
	}
	return &Verifier{parser: jwt.NewParser(jwt.WithValidMethods(allowedMethods)), keys: keys}, nil
}

// Verify checks token's algorithm, signature, expiry and claims.
func (v *Verifier) Verify(token string) (*Identity, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	var claims Claims
	var err error
	for _, key := range v.keys {
		claims = Claims{}
		_, err = v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return key, nil })
		if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, reason(err))
	}
	if claims.ExpiresAt == nil {
		return nil, fmt.Errorf("%w: the token has no exp claim", ErrInvalidToken)
	}
	return identity(token, &claims)
}

// reason names what failed without echoing any part of the token.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// jwt reports a disallowed algorithm ("none", RS256...) this way too.
		return "token signature or algorithm (only HS256) is invalid"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token is expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token is not valid yet"
	default:
		return "token is malformed"
	}
}

func identity(token string, c *Claims) (*Identity, error) {
	sub, err := ParsePatterns(c.SSEHub.Subscribe)
	if err != nil {
		return nil, fmt.Errorf("%w: ssehub.subscribe: %w", ErrInvalidToken, err)
	}
	pub, err := ParsePatterns(c.SSEHub.Publish)
	if err != nil {
		return nil, fmt.Errorf("%w: ssehub.publish: %w", ErrInvalidToken, err)
	}
	sum := sha256.Sum256([]byte(token))
	return &Identity{
		Subject:   c.Subject,
		Subscribe: sub,
		Publish:   pub,
		Expires:   c.ExpiresAt.Time,
		Key:       hex.EncodeToString(sum[:16]),
	}, nil
}

// Mint signs a token; for cmd/ssetoken and tests.
func Mint(secret string, subject string, grants Grants, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		SSEHub: grants,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}
