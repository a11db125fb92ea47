package credentials

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// seen records what the wrapped handler gets.
type seen struct {
	creds  Credentials
	uri    string
	header http.Header
}

func serve(t *testing.T, r *http.Request) seen {
	t.Helper()
	var s seen
	Redact("ssehub_token", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		s = seen{creds: FromContext(r.Context()), uri: r.RequestURI, header: r.Header.Clone()}
	})).ServeHTTP(httptest.NewRecorder(), r)
	return s
}

func TestRedactTakesTheTicketOutOfTheURL(t *testing.T) {
	t.Parallel()
	s := serve(t, httptest.NewRequest(http.MethodGet, "/sse?topic=a&ticket=s3cret&topic=b", nil))
	require.Equal(t, "s3cret", s.creds.Ticket)
	require.True(t, s.creds.Present())
	require.NotContains(t, s.uri, "s3cret")
	require.Contains(t, s.uri, "ticket="+Redacted)
	require.Equal(t, "/sse?topic=a&ticket="+Redacted+"&topic=b", s.uri)
}

func TestRedactTakesTheBearerTokenOut(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/publish", nil)
	r.Header.Set("Authorization", "bearer tok.en.value")
	s := serve(t, r)
	require.Equal(t, "tok.en.value", s.creds.Bearer)
	require.Equal(t, Redacted, s.header.Get("Authorization"))
}

func TestRedactTakesTheCookieOutAndKeepsOthers(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/sse", nil)
	r.Header.Set("Cookie", "a=1; ssehub_token=tok.en.value; b=2")
	s := serve(t, r)
	require.Equal(t, "tok.en.value", s.creds.Cookie)
	require.Equal(t, "a=1; ssehub_token="+Redacted+"; b=2", s.header.Get("Cookie"))
}

func TestRedactMakesRepeatedTicketsInvalid(t *testing.T) {
	t.Parallel()
	s := serve(t, httptest.NewRequest(http.MethodGet, "/sse?ticket=a&ticket=b", nil))
	require.Equal(t, Redacted, s.creds.Ticket)
	require.NotContains(t, s.uri, "ticket=a")
}

func TestRedactLeavesPlainRequestsAlone(t *testing.T) {
	t.Parallel()
	s := serve(t, httptest.NewRequest(http.MethodGet, "/sse?topic=ticketing", nil))
	require.False(t, s.creds.Present())
	require.Equal(t, "/sse?topic=ticketing", s.uri)
}

func TestNonBearerSchemeMatchesNoToken(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/sse", nil)
	r.Header.Set("Authorization", "Basic YTpi")
	require.Equal(t, Redacted, serve(t, r).creds.Bearer)
}

func TestRedactWorksOnQueriesGoRefuses(t *testing.T) {
	t.Parallel()
	q := strings.Repeat("topic=a&", 20_000) + "tick%65t=s3cret&x=%zz"
	s := serve(t, httptest.NewRequest(http.MethodGet, "/sse?"+q, nil))
	require.Equal(t, "s3cret", s.creds.Ticket)
	require.NotContains(t, s.uri, "s3cret")
}

// TestRedactIsFreeWithoutCredentials guards the unauthenticated path: a
// request that carries no credential costs no allocation.
func TestRedactIsFreeWithoutCredentials(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/sse?topic=news&topic=orders/1", nil)
	h := Redact("ssehub_token", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := httptest.NewRecorder()
	require.Zero(t, testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }))
}

// FuzzRedact checks that no ticket parameter survives redaction, whatever
// the query looks like, and that the one the handler gets is the one sent.
func FuzzRedact(f *testing.F) {
	for _, q := range []string{"ticket=abc", "topic=a&ticket=abc&topic=b", "tick%65t=abc", "ticket=a&ticket=b",
		"ticket=%zz", "ticket", "ticket=&x=1", "a=1;ticket=2"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest(http.MethodGet, "/sse", nil)
		r.URL.RawQuery = q
		r.RequestURI = r.URL.RequestURI()
		s := serve(t, r)
		_, rawQuery, _ := strings.Cut(s.uri, "?")
		// On error ParseQuery still returns every pair it could read.
		got, _ := url.ParseQuery(rawQuery)
		for _, v := range got[TicketParam] {
			require.Equal(t, Redacted, v, "%q became %q", q, s.uri)
		}
		if sent, err := url.ParseQuery(q); err == nil && len(sent[TicketParam]) == 1 && sent[TicketParam][0] != "" {
			require.Equal(t, sent[TicketParam][0], s.creds.Ticket)
		}
	})
}
