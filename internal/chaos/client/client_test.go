package client

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"ssehub/internal/chaos/history"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	client := history.EndClient
	cases := []struct {
		err  error
		why  *history.End
		want history.End
	}{
		{io.EOF, nil, history.EndEOF},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), nil, history.EndTruncated},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), nil, history.EndReset},
		// The run's context ended before the controller said why: not the
		// server's doing, whichever goroutine saw it first.
		{fmt.Errorf("read: %w", context.Canceled), nil, history.EndRunOver},
		{fmt.Errorf("read: %w", context.Canceled), &client, history.EndClient},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), &client, history.EndClient},
	}
	for _, c := range cases {
		got, _ := classify(c.err, c.why)
		require.Equal(t, c.want, got, "%v", c.err)
	}
}
