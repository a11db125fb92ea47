//go:build linux

package tail

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/pool/epoll"
	"ssehub/internal/socket"
)

// pair returns the two ends of a loopback TCP connection with small
// buffers, so short writes are common, and the writing end's descriptor.
// (A receive buffer of a few KiB would make the kernel drop segments and
// wait for retransmission timeouts instead.)
func pair(t *testing.T) (w *net.TCPConn, fd int, r *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dialed := make(chan net.Conn, 1)
	go func() {
		c, _ := net.Dial("tcp", ln.Addr().String())
		dialed <- c
	}()
	sc, err := ln.Accept()
	require.NoError(t, err)
	cc := <-dialed
	require.NotNil(t, cc)
	w, r = sc.(*net.TCPConn), cc.(*net.TCPConn)
	t.Cleanup(func() { _ = w.Close(); _ = r.Close() })
	require.NoError(t, w.SetWriteBuffer(16<<10))
	require.NoError(t, r.SetReadBuffer(64<<10))
	fd, err = socket.Descriptor(w)
	require.NoError(t, err)
	return w, fd, r
}

func seed(t *testing.T) uint64 {
	if s := os.Getenv("TAIL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return n
	}
	return uint64(time.Now().UnixNano())
}

// TestTailKeepsEveryByteInOrder writes messages of random sizes through a
// Tail to a client that reads in random sizes with random pauses, sometimes
// waiting for room and sometimes writing on behind what waits, and scribbles
// over each message once Write returns. Invariants: the client reads every
// byte, in order; each Change matches the state before and after it; Since
// is set exactly while something waits.
func TestTailKeepsEveryByteInOrder(t *testing.T) {
	t.Parallel()
	s := seed(t)
	t.Logf("TAIL_SEED=%d", s)
	rng := rand.New(rand.NewPCG(s, 1))
	w, fd, r := pair(t)
	poller, err := epoll.New()
	require.NoError(t, err)
	defer poller.Close()
	require.NoError(t, poller.Add(fd, 1))

	const total = 2 << 20
	read := make(chan error, 1)
	go func() { read <- readSequence(r, rand.New(rand.NewPCG(s, 2)), total) }()

	var tl Tail
	changes := map[Change]int{}
	at := 0
	for at < total {
		n := min(1+rng.IntN(16<<10), total-at)
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte((at + i) % 251)
		}
		at += n
		changes[write(t, &tl, fd, msg, s)]++
		for i := range msg {
			msg[i] = 0xff // Write must have copied what waits
		}
		if !tl.Empty() && rng.IntN(2) == 0 {
			drain(t, &tl, fd, poller, changes, s)
		}
	}
	drain(t, &tl, fd, poller, changes, s)
	require.NoError(t, w.CloseWrite())
	require.NoError(t, <-read, "TAIL_SEED=%d", s)
	// Not a run of whole writes only: every kind of change happened.
	for _, c := range []Change{Written, Drained, Started, Waiting} {
		require.Positive(t, changes[c], "TAIL_SEED=%d: change %d never happened: %v", s, c, changes)
	}
}

// write writes b and checks the Change against the state around it.
func write(t *testing.T, tl *Tail, fd int, b []byte, s uint64) Change {
	t.Helper()
	wasEmpty := tl.Empty()
	change, err := tl.Write(fd, b)
	require.NoError(t, err, "TAIL_SEED=%d", s)
	switch change {
	case Written, Started:
		require.True(t, wasEmpty, "TAIL_SEED=%d: %d with bytes waiting", s, change)
	case Drained, Waiting:
		require.False(t, wasEmpty, "TAIL_SEED=%d: %d with nothing waiting", s, change)
	}
	empty := change == Written || change == Drained
	require.Equal(t, empty, tl.Empty(), "TAIL_SEED=%d: change %d", s, change)
	require.Equal(t, empty, tl.Since() == 0, "TAIL_SEED=%d: Since while empty=%v", s, empty)
	return change
}

// drain waits for room and writes until nothing waits.
func drain(t *testing.T, tl *Tail, fd int, poller *epoll.Poller, changes map[Change]int, s uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !tl.Empty() {
		require.NoError(t, poller.Watch(fd, 1, epoll.Out))
		// Wait also returns, having called nothing, when a signal cut it short.
		woke := false
		for !woke {
			require.True(t, time.Now().Before(deadline), "TAIL_SEED=%d: no room for 5 s", s)
			require.NoError(t, poller.Wait(100, func(uint64, uint32) { woke = true }))
		}
		changes[write(t, tl, fd, nil, s)]++
	}
}

// readSequence reads total bytes of the sequence the test writes, then EOF.
func readSequence(r io.Reader, rng *rand.Rand, total int) error {
	br := bufio.NewReaderSize(r, 64)
	buf := make([]byte, 32<<10)
	at := 0
	for at < total {
		if rng.IntN(8) == 0 {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
		n, err := br.Read(buf[:1+rng.IntN(len(buf)-1)])
		for i := range n {
			if want := byte((at + i) % 251); buf[i] != want {
				return fmt.Errorf("byte %d is %#x, want %#x", at+i, buf[i], want)
			}
		}
		at += n
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", at, total, err)
		}
	}
	if n, err := br.Read(buf); err != io.EOF {
		return fmt.Errorf("after all %d bytes: %d more, %v", total, n, err)
	}
	return nil
}

// TestTailStalledOnlyWithoutProgress: bytes that wait with the client not
// reading are stalled once limit passes their Since; the client reading is
// progress, which moves Since on. The queue only shrinks once nothing more
// is written, so a look after the client read always sees it move.
func TestTailStalledOnlyWithoutProgress(t *testing.T) {
	t.Parallel()
	_, fd, r := pair(t)
	var tl Tail
	// Write until the client's window is closed: bytes wait, and the
	// socket holds some the client has not acknowledged.
	require.Eventually(t, func() bool {
		_, err := tl.Write(fd, make([]byte, 16<<10))
		require.NoError(t, err)
		return !tl.Empty() && epoll.Unsent(fd) > 0
	}, 5*time.Second, 10*time.Millisecond)
	require.NotZero(t, tl.Since())
	// Once the queue settles, the wait makes no progress.
	require.Eventually(t, func() bool {
		return tl.Stalled(fd, time.Now().UnixNano(), tl.Since()+1)
	}, 5*time.Second, 10*time.Millisecond)
	now := time.Now().UnixNano()
	require.False(t, tl.Stalled(fd, now, tl.Since()), "stalled at its own Since")
	// A write the socket takes nothing of is no progress.
	since := tl.Since()
	change, err := tl.Write(fd, nil)
	require.NoError(t, err)
	require.Equal(t, Waiting, change)
	require.Equal(t, since, tl.Since(), "a write that took nothing moved Since")

	before := epoll.Unsent(fd)
	go func() { _, _ = io.Copy(io.Discard, r) }()
	require.Eventually(t, func() bool { return epoll.Unsent(fd) != before }, 5*time.Second, time.Millisecond)
	later := time.Now().UnixNano()
	require.False(t, tl.Stalled(fd, later, later), "reading is progress")
	require.Equal(t, later, tl.Since())
}
