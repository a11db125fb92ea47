// Package socket is what ssehub does to a stream's TCP connection itself:
// it bounds the kernel's send buffer, keeps the connection where the
// stream's writer finds it, and closes it with a reset or a FIN.
package socket

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"syscall"

	"github.com/zeromicro/go-zero/core/logx"
)

type connKey struct{}

// ConnContext is for http.Server.ConnContext: it bounds every connection's
// kernel send buffer to sendBuffer bytes (0 keeps the kernel's autotuning),
// so a client that stops reading pins at most that much of the machine's
// TCP memory, and keeps the connection where its stream finds it for an
// abortive close.
func ConnContext(sendBuffer int) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		raw := c
		if tc, ok := c.(*tls.Conn); ok {
			raw = tc.NetConn()
		}
		if tcp, ok := raw.(*net.TCPConn); ok && sendBuffer > 0 {
			if err := tcp.SetWriteBuffer(sendBuffer); err != nil {
				logx.Errorw("cannot bound the send buffer", logx.Field("error", err.Error()))
			}
		}
		return context.WithValue(ctx, connKey{}, raw)
	}
}

// ConnOf returns the connection ConnContext kept, or nil.
func ConnOf(ctx context.Context) net.Conn {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	return c
}

// Abort closes c with a reset instead of a FIN: the kernel drops what is
// still queued for a client that is not reading at once, instead of holding
// it until the peer reads or the connection times out.
func Abort(c net.Conn) {
	Abortive(c, true)
	_ = c.Close()
}

// Abortive makes whatever closes c next, ssehub or net/http, reset the
// connection (on) or end it with a FIN after what is queued (off).
func Abortive(c net.Conn, on bool) {
	if tcp, ok := c.(*net.TCPConn); ok {
		if on {
			_ = tcp.SetLinger(0)
		} else {
			_ = tcp.SetLinger(-1)
		}
	}
}

// Descriptor returns c's file descriptor, for writing it directly.
func Descriptor(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("connection %T has no descriptor", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("descriptor: %w", err)
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, fmt.Errorf("descriptor: %w", err)
	}
	return fd, nil
}
