// Package credentials takes what a request presented (a ticket, a bearer
// token, the auth cookie) out of it before anything can log it, for auth to
// check later.
package credentials

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Redacted replaces every credential in what go-zero's access log sees.
const Redacted = "REDACTED"

// TicketParam is the query parameter that carries a stream ticket.
const TicketParam = "ticket"

// Credentials are what a request presented, taken out of it before anything
// can log them.
type Credentials struct {
	Ticket  string
	Bearer  string
	Cookie  string
	present bool
}

type credentialsKey struct{}

// FromContext returns the credentials Redact took from the request.
func FromContext(ctx context.Context) Credentials {
	c, _ := ctx.Value(credentialsKey{}).(Credentials)
	return c
}

// Present reports whether the request carried any credential.
func (c Credentials) Present() bool {
	return c.present
}

// Redact moves the ticket parameter, the bearer token and the auth cookie
// into the request's context and overwrites them in the request itself. It
// wraps go-zero's router, so go-zero's access log (which prints the request
// URI, and dumps every header of a 5xx) never sees a credential. Requests
// without credentials pass through untouched, at no cost.
func Redact(cookie string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c Credentials
		// "%" too: the parameter name may come escaped.
		if q := r.URL.RawQuery; strings.Contains(q, TicketParam) || strings.Contains(q, "%") {
			c.Ticket = redactTicket(r)
		}
		if h := r.Header.Get("Authorization"); h != "" {
			c.present = true
			c.Bearer = bearer(h)
			r.Header.Set("Authorization", Redacted)
		}
		if hasCookie(r.Header["Cookie"], cookie) {
			c.Cookie = redactCookie(r, cookie)
		}
		if c.Ticket != "" || c.Cookie != "" {
			c.present = true
		}
		if !c.present {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), credentialsKey{}, c)))
	})
}

// redactTicket works on the raw query, not url.Values: it keeps the order
// and the rest of the query as sent, and it still redacts a query that
// url.ParseQuery refuses (bad escapes, too many parameters, a ";" that some
// servers take as a separator).
func redactTicket(r *http.Request) string {
	var tickets []string
	var out strings.Builder
	rest := r.URL.RawQuery
	for rest != "" {
		part := rest
		sep := ""
		if i := strings.IndexAny(rest, "&;"); i >= 0 {
			part, sep, rest = rest[:i], rest[i:i+1], rest[i+1:]
		} else {
			rest = ""
		}
		key, value, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == TicketParam {
			v, err := url.QueryUnescape(value)
			if err != nil {
				v = Redacted
			}
			tickets = append(tickets, v)
			part = TicketParam + "=" + Redacted
		}
		out.WriteString(part)
		out.WriteString(sep)
	}
	if len(tickets) == 0 {
		return ""
	}
	r.URL.RawQuery = out.String()
	r.RequestURI = r.URL.RequestURI()
	if len(tickets) != 1 || tickets[0] == "" {
		// Several tickets, or an empty one, are never valid.
		return Redacted
	}
	return tickets[0]
}

// bearer returns the token of an "Authorization: Bearer <token>" header; any
// other scheme yields a value no token matches.
func bearer(h string) string {
	const scheme = "bearer "
	if len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) {
		return strings.TrimSpace(h[len(scheme):])
	}
	return Redacted
}

// hasCookie reports whether any Cookie header may name the cookie: a client
// may send several Cookie headers, and every one reaches the access log.
func hasCookie(headers []string, name string) bool {
	for _, h := range headers {
		if strings.Contains(h, name) {
			return true
		}
	}
	return false
}

// redactCookie folds every Cookie header into one with the auth cookie's
// value replaced.
func redactCookie(r *http.Request, name string) string {
	cookies := r.Cookies()
	value := ""
	parts := make([]string, 0, len(cookies))
	for _, ck := range cookies {
		if ck.Name == name {
			value = ck.Value
			ck.Value = Redacted
		}
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	r.Header.Set("Cookie", strings.Join(parts, "; "))
	return value
}
