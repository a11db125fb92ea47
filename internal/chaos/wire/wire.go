// Package wire keeps the last raw bytes a chaos client's connection read,
// before any HTTP or SSE decoding, so a corrupt stream can be read byte by
// byte afterwards (ssechaos -keep).
package wire

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// Keep is how many of a connection's last bytes a Recorder keeps at least.
const Keep = 1 << 20

// Recorder is a connection that keeps the last bytes it read.
type Recorder struct {
	net.Conn
	mu   sync.Mutex
	tail []byte
}

func (r *Recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.tail = append(r.tail, p[:n]...)
	if len(r.tail) > 2*Keep {
		r.tail = append(r.tail[:0], r.tail[len(r.tail)-Keep:]...)
	}
	r.mu.Unlock()
	return n, err
}

// Save writes the kept bytes to dir/name.
func (r *Recorder) Save(dir, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("wire dir: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, name), r.tail, 0o644)
}
