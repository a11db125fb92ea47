package limiter

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func request(peer string, xff ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/sse", nil)
	r.RemoteAddr = peer
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestClientIPIgnoresForwardedForFromUntrustedPeers(t *testing.T) {
	t.Parallel()
	var none *ClientIP
	require.Equal(t, "203.0.113.9", none.Of(request("203.0.113.9:4000", "198.51.100.1")))
	c, err := NewClientIP([]string{"10.0.0.0/8"})
	require.NoError(t, err)
	require.Equal(t, "203.0.113.9", c.Of(request("203.0.113.9:4000", "198.51.100.1")))
}

func TestClientIPTakesTheRightmostUntrustedHop(t *testing.T) {
	t.Parallel()
	c, err := NewClientIP([]string{"10.0.0.0/8", "127.0.0.1"})
	require.NoError(t, err)
	// The client claimed 1.1.1.1; the proxy at 10.0.0.2 saw 198.51.100.7.
	require.Equal(t, "198.51.100.7", c.Of(request("127.0.0.1:5000", "1.1.1.1, 198.51.100.7", "10.0.0.2")))
	require.Equal(t, "198.51.100.7", c.Of(request("[::ffff:127.0.0.1]:5000", "::ffff:198.51.100.7")))
	// Nothing usable: the proxy itself.
	require.Equal(t, "127.0.0.1", c.Of(request("127.0.0.1:5000", "garbage, 10.1.2.3")))
	require.Equal(t, "127.0.0.1", c.Of(request("127.0.0.1:5000")))
}

func TestNewClientIPRejectsGarbage(t *testing.T) {
	t.Parallel()
	_, err := NewClientIP([]string{"10.0.0.0/33"})
	require.ErrorIs(t, err, ErrBadProxy)
	_, err = NewClientIP([]string{"proxy.local"})
	require.ErrorIs(t, err, ErrBadProxy)
}
