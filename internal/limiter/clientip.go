package limiter

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ErrBadProxy says a Sse.TrustedProxies entry is not an address or CIDR.
var ErrBadProxy = errors.New("Sse.TrustedProxies entries are IP addresses or CIDR prefixes")

// ClientIP tells which address a request comes from, for the per-address
// limits. X-Forwarded-For is read only when the peer is a trusted proxy, and
// then from the right: the rightmost address not itself a trusted proxy is
// the one the nearest trusted proxy saw; anything left of it is what the
// client claimed. A nil ClientIP trusts no proxy.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP trusts the proxies in list; an empty list returns nil.
func NewClientIP(list []string) (*ClientIP, error) {
	if len(list) == 0 {
		return nil, nil
	}
	c := &ClientIP{}
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%w: %q", ErrBadProxy, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.trusted = append(c.trusted, p.Masked())
	}
	return c, nil
}

// Of returns the client address of r.
func (c *ClientIP) Of(r *http.Request) string {
	peer := peerAddr(r)
	if c == nil || !c.isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if a, err := netip.ParseAddr(hop); err == nil && !c.isTrusted(a.Unmap().String()) {
			return a.Unmap().String()
		}
	}
	return peer
}

func (c *ClientIP) isTrusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
