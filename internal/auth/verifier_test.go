package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/stretchr/testify/require"
)

const (
	secret = "0123456789abcdef0123456789abcdef-current"
	prev   = "0123456789abcdef0123456789abcdef-previous"
)

var grants = Grants{Subscribe: []string{"orders/*", "news"}, Publish: []string{"news"}}

func mustMint(t *testing.T, key string, ttl time.Duration) string {
	t.Helper()
	tok, err := Mint(key, "alice", grants, ttl)
	require.NoError(t, err)
	return tok
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return tok
}

func TestVerifyAcceptsValidToken(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(secret, "")
	require.NoError(t, err)
	id, err := v.Verify(mustMint(t, secret, time.Minute))
	require.NoError(t, err)
	require.Equal(t, "alice", id.Subject)
	require.True(t, id.Subscribe.Allows("orders/eu/1"))
	require.False(t, id.Publish.Allows("orders/eu/1"))
	require.NotEmpty(t, id.Key)
}

func TestVerifyAcceptsPreviousSecretDuringRotation(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(secret, prev)
	require.NoError(t, err)
	_, err = v.Verify(mustMint(t, prev, time.Minute))
	require.NoError(t, err)

	only, err := NewVerifier(secret, "")
	require.NoError(t, err)
	_, err = only.Verify(mustMint(t, prev, time.Minute))
	require.ErrorIs(t, err, ErrInvalidToken)
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(secret, prev)
	require.NoError(t, err)
	exp := jwt.NewNumericDate(time.Now().Add(time.Minute))
	valid := Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}, SSEHub: grants}
	cases := map[string]string{
		"expired":       mustMint(t, secret, -time.Minute),
		"bad signature": mustMint(t, "another-secret-that-is-long-enough-000", time.Minute),
		"alg none":      sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid),
		"alg HS512":     sign(t, jwt.SigningMethodHS512, []byte(secret), valid),
		"no exp":        sign(t, jwt.SigningMethodHS256, []byte(secret), Claims{SSEHub: grants}),
		"bad pattern": sign(t, jwt.SigningMethodHS256, []byte(secret), Claims{
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}, SSEHub: Grants{Subscribe: []string{"a/../b"}}}),
		"malformed":   "not.a.token",
		"truncated":   mustMint(t, secret, time.Minute)[:40],
		"not before":  sign(t, jwt.SigningMethodHS256, []byte(secret), Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp, NotBefore: exp}}),
		"claims type": "eyJhbGciOiJIUzI1NiJ9.eyJzc2VodWIiOiJ4In0.x",
	}
	for name, tok := range cases {
		_, err := v.Verify(tok)
		require.ErrorIs(t, err, ErrInvalidToken, name)
		require.NotContains(t, err.Error(), tok, name)
	}
	_, err = v.Verify("")
	require.ErrorIs(t, err, ErrNoToken)
}

func TestNewVerifierRejectsShortSecret(t *testing.T) {
	t.Parallel()
	_, err := NewVerifier(strings.Repeat("x", MinSecretLen-1), "")
	require.ErrorIs(t, err, ErrWeakSecret)
}

// FuzzVerify feeds any string as a token: only the seed's own claims can
// come out, and an error never echoes the token.
func FuzzVerify(f *testing.F) {
	good, err := Mint(secret, "alice", grants, 100*365*24*time.Hour)
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)-1] + "A")
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.")
	f.Add("a.b.c")
	f.Add("")
	v, err := NewVerifier(secret, prev)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Verify(tok)
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrNoToken), "%v", err)
			if len(tok) > 16 {
				require.NotContains(t, err.Error(), tok)
			}
			return
		}
		require.Equal(t, "alice", id.Subject)
		require.Equal(t, Patterns(grants.Subscribe), id.Subscribe)
		require.Equal(t, Patterns(grants.Publish), id.Publish)
	})
}

func BenchmarkVerify(b *testing.B) {
	tok, err := Mint(secret, "alice", grants, time.Hour)
	require.NoError(b, err)
	v, err := NewVerifier(secret, "")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
