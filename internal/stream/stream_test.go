package stream_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest"

	"ssehub/internal/redistest"
	"ssehub/internal/stream"
)

// A write that net/http buffers and a flush that then fails must be an
// error, also behind go-zero's response writers, whose Flush reports
// nothing: unseen, the failed bytes stayed in net/http's buffer and taking
// the stream over discarded them mid-chunk (a corrupt stream). The client
// resets its connection; once the server has seen that, a frame small
// enough to be buffered is written and flushed.
func TestAFailedFlushIsAnErrorBehindGoZerosWriters(t *testing.T) {
	t.Parallel()
	port := redistest.FreePort(t)
	var c rest.RestConf // go-zero's defaults, its middlewares on, as conf.MustLoad gives ssehub
	require.NoError(t, conf.FillDefault(&c))
	c.Name, c.Host, c.Port = "flush", "127.0.0.1", port
	c.Log = logx.LogConf{Mode: "console", Level: "severe"}
	srv, err := rest.NewServer(c)
	require.NoError(t, err)
	got := make(chan error, 1)
	srv.AddRoute(rest.Route{Method: http.MethodGet, Path: "/s", Handler: func(w http.ResponseWriter, r *http.Request) {
		st, err := stream.Open(w, r, time.Second, time.Second)
		if err != nil {
			got <- fmt.Errorf("open: %w", err)
			return
		}
		<-r.Context().Done() // net/http saw the reset
		got <- st.Reset("test", "1-0")
	}}, rest.WithSSE(), rest.WithTimeout(0))
	go srv.Start()
	t.Cleanup(srv.Stop)

	var conn net.Conn
	require.Eventually(t, func() bool {
		conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	_, err = fmt.Fprintf(conn, "GET /s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, conn.(*net.TCPConn).SetLinger(0))
	require.NoError(t, conn.Close())

	select {
	case err := <-got:
		require.True(t, errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET),
			"the flush to a reset connection must fail, got %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never wrote")
	}
}
