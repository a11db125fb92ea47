package client

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// wireKeep is how many of a connection's last bytes a recorder keeps.
const wireKeep = 1 << 20

// recorder keeps the last bytes a connection read, before any HTTP or SSE
// decoding, so a corrupt stream can be read byte by byte afterwards.
type recorder struct {
	net.Conn
	mu   sync.Mutex
	tail []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.tail = append(r.tail, p[:n]...)
	if len(r.tail) > 2*wireKeep {
		r.tail = append(r.tail[:0], r.tail[len(r.tail)-wireKeep:]...)
	}
	r.mu.Unlock()
	return n, err
}

// save writes the kept bytes to dir/name.
func (r *recorder) save(dir, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("wire dir: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, name), r.tail, 0o644)
}
