package redistest

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Relay forwards loopback TCP connections to a Redis server, and can make
// the ones open now die as a connection does whose peer vanished without its
// FIN reaching the client (a restart racing the pool's check, a NAT that
// forgot the flow): the client's next command gets no answer, only the end
// of the connection. go-redis's pool cannot tell such a connection from a
// good one before it uses it.
type Relay struct {
	Addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	conns map[*relayed]bool
}

type relayed struct {
	client, server net.Conn
	mu             sync.Mutex
	broken         bool // the client's next bytes end both sides
}

// StartRelay relays to target until cleanup.
func StartRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &Relay{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[*relayed]bool{}}
	t.Cleanup(r.close)
	go r.accept()
	return r
}

// Break makes every connection open now end at the client's next bytes,
// unanswered; later connections are relayed as usual.
func (r *Relay) Break() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.mu.Lock()
		c.broken = true
		c.mu.Unlock()
	}
}

func (r *Relay) accept() {
	for {
		client, err := r.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", r.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		c := &relayed{client: client, server: server}
		r.mu.Lock()
		r.conns[c] = true
		r.mu.Unlock()
		go func() {
			_, _ = io.Copy(client, server)
			_ = client.Close()
		}()
		go r.forward(c)
	}
}

// forward copies the client's bytes to the server until the connection
// ends or, once broken, the client sends anything.
func (r *Relay) forward(c *relayed) {
	defer func() {
		_ = c.client.Close()
		_ = c.server.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.client.Read(buf)
		c.mu.Lock()
		broken := c.broken
		c.mu.Unlock()
		if err != nil || broken {
			return
		}
		if _, err := c.server.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (r *Relay) close() {
	_ = r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		_ = c.client.Close()
		_ = c.server.Close()
	}
}
