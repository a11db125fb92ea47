package handler

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStreamGuardSetsAWriteDeadline: go-zero's WithSSE clears the write
// deadline on the stream route, so without the guard's own a refusal
// written to a client that never reads would block forever.
func TestStreamGuardSetsAWriteDeadline(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 1)
	srv := httptest.NewServer(streamGuard(100*time.Millisecond, func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 64<<10)
		// Far more than the socket buffers hold.
		for range 4096 {
			if _, err := w.Write(chunk); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	select {
	case err := <-errs:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a client that never reads did not time out")
	}
}
