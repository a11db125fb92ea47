package procstat

import (
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadOwnProcess(t *testing.T) {
	t.Parallel()
	s, err := Read(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, s.RSSKiB)
	require.False(t, s.At.IsZero())
}

func TestFindListenerFindsThisProcess(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	pid, err := FindListener(p)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), pid)
}
