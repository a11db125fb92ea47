package wire

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRecorderKeepsTheLastBytesRead: what the reader read, the latest
// Keep bytes at least, in order.
func TestRecorderKeepsTheLastBytesRead(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	rec := &Recorder{Conn: b}
	sent := make([]byte, 3*Keep+123)
	for i := range sent {
		sent[i] = byte(i % 251)
	}
	go func() {
		_, _ = a.Write(sent)
		_ = a.Close()
	}()
	got, err := io.ReadAll(rec)
	require.NoError(t, err)
	require.Equal(t, sent, got)

	dir := t.TempDir()
	require.NoError(t, rec.Save(dir, "c.bin"))
	kept, err := os.ReadFile(filepath.Join(dir, "c.bin"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(kept), Keep)
	require.True(t, bytes.HasSuffix(sent, kept), "the kept bytes are the last ones read")
}
