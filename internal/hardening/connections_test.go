package hardening

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/testkit"
)

// shortTimeout makes go-zero's route Timeout 500 ms: bodies get 400 ms,
// answers 550 ms.
const shortTimeout = "Timeout: 500\n"

func dial(t *testing.T, base string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// requireClosedWithoutReading writes requests to conn, and goes on writing
// them, without ever reading, until the server has closed conn (bounded):
// any write error but one that merely blocks (the server not reading) is
// the close.
func requireClosedWithoutReading(t *testing.T, conn net.Conn, requests string) {
	t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	for time.Now().Before(deadline) {
		require.NoError(t, conn.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
		_, err := conn.Write([]byte(requests))
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
	}
	t.Fatal("the server kept a connection that never reads its answers")
}

// TestAttackPipelinedRequestsNeverRead: a client pipelines GET /metrics and
// never reads; the blocked answer hits its write deadline and the server
// drops the connection instead of holding it and its goroutine for good.
// (The stream route's refusals: TestStreamGuardSetsAWriteDeadline in
// internal/handler.)
func TestAttackPipelinedRequestsNeverRead(t *testing.T) {
	t.Parallel()
	underAttackWith(t, testkit.Config(t, "", shortTimeout), func(t *testing.T, base string) {
		conn := dial(t, base)
		// A small receive buffer fills sooner.
		require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4<<10))
		// Far more answer bytes than the socket buffers hold.
		requireClosedWithoutReading(t, conn, strings.Repeat("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 500))
	})
}

// TestAttackGetWithTrickledBody: a GET whose chunked body stops after one
// chunk is answered, and its connection closed once the body's read
// deadline passes; net/http would otherwise wait for the rest forever.
func TestAttackGetWithTrickledBody(t *testing.T) {
	t.Parallel()
	underAttackWith(t, testkit.Config(t, "", shortTimeout), func(t *testing.T, base string) {
		for _, path := range []string{"/metrics", "/healthz", "/nowhere"} {
			conn := dial(t, base)
			_, err := conn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"))
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(testkit.Wait)))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err, path)
			_ = resp.Body.Close()
			requireDropped(t, conn)
		}
	})
}

// TestAttackStreamWithUnsentBody: GET /sse announcing a body it never sends
// gets 400 at once and holds neither a subscription nor a per-address slot
// (it used to hang, and 20 such requests used up an address's slots).
func TestAttackStreamWithUnsentBody(t *testing.T) {
	t.Parallel()
	inst := testkit.Start(t, testkit.Config(t, "MaxClientsPerIP: 2", shortTimeout))
	for _, framing := range []string{"Content-Length: 10\r\n", "Transfer-Encoding: chunked\r\n"} {
		for range 20 {
			conn := dial(t, inst.URL)
			_, err := conn.Write([]byte("GET /sse?topic=witness HTTP/1.1\r\nHost: x\r\n" + framing + "\r\n"))
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(testkit.Wait)))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			requireAPIError(t, resp, body, http.StatusBadRequest, "bad_body")
			require.True(t, resp.Close, "the connection closes after the refusal")
		}
	}
	require.Zero(t, inst.Svc.Hub.Len())
	// Both of the address's slots are free.
	testkit.Open(t, inst.URL+"/sse?topic=witness", nil).Next(t)
	testkit.Open(t, inst.URL+"/sse?topic=witness", nil).Next(t)
}
