package hardening

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/stretchr/testify/require"

	"ssehub/internal/auth"
	"ssehub/internal/testkit"
)

func TestStreamWithoutTokenIs401(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	before := testkit.Metric(t, inst.URL, authRejects)
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=news", nil, "")
	requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	require.Greater(t, testkit.Metric(t, inst.URL, authRejects), before, "counted as a disconnect with reason auth")
}

func TestStreamWithBearerToken(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	tok := token(t, []string{"news"}, []string{"news"})
	s := testkit.Open(t, inst.URL+"/sse?topic=news", bearer(tok))
	s.Next(t)
	resp, body := publishAs(t, inst.URL, bearer(tok), "news")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "1", s.NextOf(t, "message").Data)
}

func TestStreamWithCookie(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	tok := token(t, []string{"news"}, []string{"news"})
	s := testkit.Open(t, inst.URL+"/sse?topic=news", http.Header{"Cookie": {"ssehub_token=" + tok}})
	s.Next(t)
	resp, body := do(t, http.MethodPost, inst.URL+"/publish", http.Header{"Cookie": {"ssehub_token=" + tok}},
		`{"topic":"news","data":"by cookie"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "by cookie", s.NextOf(t, "message").Data)
}

func TestCookieNameComesFromConfig(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, testkit.Config(t, "", authYAML("  Cookie: my_auth\n")))
	tok := token(t, []string{"news"}, nil)
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=news", http.Header{"Cookie": {"ssehub_token=" + tok}}, "")
	requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	s := testkit.Open(t, inst.URL+"/sse?topic=news", http.Header{"Cookie": {"my_auth=" + tok}})
	s.Next(t)
}

// ticket buys a stream ticket with tok.
func ticket(t *testing.T, base, tok string) string {
	t.Helper()
	resp, body := do(t, http.MethodPost, base+"/tickets", bearer(tok), "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	var out struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int    `json:"expiresIn"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	require.Equal(t, 30, out.ExpiresIn)
	require.NotEmpty(t, out.Ticket)
	return out.Ticket
}

func TestStreamWithTicketOnce(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	tok := token(t, []string{"orders/*"}, []string{"orders/*"})
	tk := ticket(t, inst.URL, tok)

	s := testkit.Open(t, inst.URL+"/sse?topic=orders/1&ticket="+tk, nil)
	s.Next(t)
	resp, body := publishAs(t, inst.URL, bearer(tok), "orders/1")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "1", s.NextOf(t, "message").Data)

	resp, body = do(t, http.MethodGet, inst.URL+"/sse?topic=orders/1&ticket="+tk, nil, "")
	requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
}

func TestTicketCarriesTheTokensClaims(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	tk := ticket(t, inst.URL, token(t, []string{"orders/*"}, nil))
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=news&ticket="+tk, nil, "")
	requireAPIError(t, resp, body, http.StatusForbidden, "topic_forbidden")
}

func TestTicketNeedsBearerToken(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	tok := token(t, []string{"news"}, nil)
	resp, body := do(t, http.MethodPost, inst.URL+"/tickets", http.Header{"Cookie": {"ssehub_token=" + tok}}, "")
	requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
	resp, body = do(t, http.MethodPost, inst.URL+"/tickets", nil, "")
	requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
}

func TestUnknownTicketIs401(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=news&ticket=made-up", nil, "")
	requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
}

func TestTicketsRouteNeedsAuth(t *testing.T) {
	t.Parallel()
	inst := testkit.StartDefault(t, "")
	resp, body := do(t, http.MethodPost, inst.URL+"/tickets", nil, "")
	requireAPIError(t, resp, body, http.StatusNotFound, "not_found")
}

func TestSubscribeOutsideClaimsIs403(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	tok := token(t, []string{"orders/*"}, nil)
	before := testkit.Metric(t, inst.URL, authRejects)
	for _, q := range []string{"topic=orders/1&topic=news", "topic=orders", ""} {
		resp, body := do(t, http.MethodGet, inst.URL+"/sse?"+q, bearer(tok), "")
		requireAPIError(t, resp, body, http.StatusForbidden, "topic_forbidden")
	}
	require.GreaterOrEqual(t, testkit.Metric(t, inst.URL, authRejects), before+3)
}

func TestWildcardClaimSubscribesToEverything(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	s := testkit.Open(t, inst.URL+"/sse?topic=tick&topic=a/b", bearer(token(t, []string{"*"}, nil)))
	s.NextOf(t, "tick")
}

func TestPublishOutsideClaimsIs403(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	tok := token(t, []string{"*"}, []string{"news"})
	resp, body := publishAs(t, inst.URL, bearer(tok), "orders/1")
	requireAPIError(t, resp, body, http.StatusForbidden, "topic_forbidden")
	resp, body = publishAs(t, inst.URL, bearer(token(t, []string{"*"}, nil)), "news")
	requireAPIError(t, resp, body, http.StatusForbidden, "topic_forbidden")
}

func TestPublishWithoutTokenIs401(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	resp, body := publishAs(t, inst.URL, nil, "news")
	requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
}

func TestRejectedTokensAre401(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, ""))
	exp := jwt.NewNumericDate(time.Now().Add(time.Hour))
	claims := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp},
		SSEHub: auth.Grants{Subscribe: []string{"*"}, Publish: []string{"*"}}}
	expired, err := auth.Mint(secret, "x", claims.SSEHub, -time.Minute)
	require.NoError(t, err)
	wrongKey, err := auth.Mint("some-other-secret-0123456789abcdefgh", "x", claims.SSEHub, time.Hour)
	require.NoError(t, err)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString([]byte(secret))
	require.NoError(t, err)
	for name, tok := range map[string]string{"expired": expired, "bad signature": wrongKey,
		"alg none": none, "alg HS512": hs512, "garbage": "x.y.z"} {
		t.Run(name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, inst.URL+"/sse?topic=a", bearer(tok), "")
			requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
			require.NotContains(t, string(body), tok)
			resp, body = publishAs(t, inst.URL, bearer(tok), "a")
			requireAPIError(t, resp, body, http.StatusUnauthorized, "unauthorized")
		})
	}
}

func TestPreviousSecretWorksDuringRotation(t *testing.T) {
	t.Parallel()
	const old = "the-previous-secret-0123456789abcdefgh"
	inst := testkit.Start(t, testkit.Config(t, "", authYAML("  PrevSecret: "+old+"\n")))
	tok, err := auth.Mint(old, "x", auth.Grants{Subscribe: []string{"a"}}, time.Hour)
	require.NoError(t, err)
	testkit.Open(t, inst.URL+"/sse?topic=a", bearer(tok)).Next(t)
}

func TestWeakSecretIsAConfigError(t *testing.T) {
	t.Parallel()
	c := testkit.Config(t, "", "Auth:\n  Enabled: true\n  Secret: short\n")
	_, err := newServer(c)
	require.ErrorIs(t, err, auth.ErrWeakSecret)
}

// TestStreamEndsWhenItsTokenExpires: the token is checked once, and the
// stream lasts no longer than the token.
func TestStreamEndsWhenItsTokenExpires(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, authConfig(t, "TickInterval: 1h"))
	// exp has whole seconds: 2s from now is 1-2s away.
	tok, err := auth.Mint(secret, "x", auth.Grants{Subscribe: []string{"news"}}, 2*time.Second)
	require.NoError(t, err)
	before := testkit.Metric(t, inst.URL, authRejects)
	s := testkit.Open(t, inst.URL+"/sse?topic=news", bearer(tok))
	s.End(t)
	// The hub counts the stream just after the server ends it.
	require.Eventually(t, func() bool { return testkit.MetricNow(inst.URL, authRejects) > before },
		testkit.Wait, 10*time.Millisecond, "counted with reason auth")
}
