package server

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// recording is a component that notes each call in log.
func recording(name string, log *[]string, fail bool) component {
	return component{
		name: name,
		start: func() error {
			*log = append(*log, "start "+name)
			if fail {
				return errors.New("no")
			}
			return nil
		},
		drain: func(context.Context) { *log = append(*log, "drain "+name) },
		stop:  func(context.Context) { *log = append(*log, "stop "+name) },
	}
}

func TestLifecycleStartsInOrderAndStopsInReverse(t *testing.T) {
	t.Parallel()
	var log []string
	lc := lifecycle{parts: []component{recording("a", &log, false), recording("b", &log, false)}}
	require.NoError(t, lc.start())
	lc.stop(context.Background())
	require.Equal(t, []string{"start a", "start b", "drain b", "drain a", "stop b", "stop a"}, log)
}

func TestLifecycleStopsOnlyWhatStarted(t *testing.T) {
	t.Parallel()
	var log []string
	lc := lifecycle{parts: []component{recording("a", &log, false), recording("b", &log, true), recording("c", &log, false)}}
	require.ErrorContains(t, lc.start(), "start b")
	lc.stop(context.Background())
	require.Equal(t, []string{"start a", "start b", "drain a", "stop a"}, log)
}

func TestBackgroundStopsItsGoroutine(t *testing.T) {
	t.Parallel()
	ended := make(chan struct{})
	c := background("x", func(ctx context.Context) {
		<-ctx.Done()
		close(ended)
	})
	require.NoError(t, c.start())
	c.stop(context.Background())
	select {
	case <-ended:
	default:
		t.Fatal("stop returned before the goroutine ended")
	}
}
