package system_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog/redislog"
	"ssehub/internal/redistest"
	"ssehub/internal/sse"
)

// procKiB reads one "<field>: <n> kB" line of /proc/<pid>/status.
func procKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// fillHistory appends n events of size bytes through the Redis log itself,
// with a few publishers at once, and returns their ids in order.
func fillHistory(t *testing.T, addr string, n, size int) []eventid.ID {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	l := redislog.New(rdb, redislog.Options{Prefix: "scale", Size: 10 * n, MaxAge: time.Hour})
	data := []byte(strings.Repeat("x", size))
	const publishers = 8
	ids := make([]eventid.ID, n)
	var wg sync.WaitGroup
	for w := range publishers {
		wg.Go(func() {
			for i := w; i < n; i += publishers {
				id, _, err := l.Append(context.Background(), event.Message{Topic: "news", Type: "m", Data: data})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	// Publishers raced: order by id, as the stream does.
	slices.SortFunc(ids, func(a, b eventid.ID) int {
		switch {
		case a.Less(b):
			return -1
		case b.Less(a):
			return 1
		}
		return 0
	})
	return ids
}

// Twenty clients resume from an old id over 32 MB of Redis history; all but
// one stop reading after their first event, one reads everything, slowly.
// Replay goes out page by page, so the server's memory grows by pages in
// flight, not by history times resumes (it grew by about 1 GiB when each
// resume collected its whole history before writing).
func TestScaleOutReplayMemoryBounded(t *testing.T) {
	t.Parallel()
	const (
		events    = 8000
		size      = 4000 // 8000 × 4 KB ≈ 32 MB of history
		resumes   = 20
		maxGrowth = 100 << 10 // KiB
	)
	srv := redistest.Start(t)
	p := instances(t, srv, 1, "TickInterval: 1h\nWriteTimeout: 60s\nReplay: {Size: 100000, MaxAge: 1h}")[0]
	ids := fillHistory(t, srv.Addr, events, size)
	pid := p.Cmd.Process.Pid
	base := procKiB(t, pid, "VmRSS")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := make(chan error, resumes)
	whole := make(chan error, 1)
	for c := range resumes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/sse?topic=news", nil)
		require.NoError(t, err)
		req.Header.Set("Last-Event-ID", ids[0].String())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		t.Cleanup(func() { _ = resp.Body.Close() })
		go func() {
			r := sse.NewReader(resp.Body)
			next := func() (sse.Frame, error) {
				for {
					f, err := r.Next()
					if err != nil || !f.IsComment {
						return f, err
					}
				}
			}
			f, err := next()
			if err == nil && f.ID != ids[1].String() {
				err = fmt.Errorf("client %d: first event %q, want %s", c, f.ID, ids[1])
			}
			first <- err
			if c > 0 || err != nil {
				return // stops reading: the server's writes block
			}
			for i := 2; i < events; i++ {
				if i%64 == 0 {
					time.Sleep(time.Millisecond) // a slow reader
				}
				f, err := next()
				if err == nil && (f.ID != ids[i].String() || len(f.Data) != size) {
					err = fmt.Errorf("event %d: id %q with %d bytes, want %s with %d", i, f.ID, len(f.Data), ids[i], size)
				}
				if err != nil {
					whole <- err
					return
				}
			}
			whole <- nil
		}()
	}
	for range resumes {
		require.NoError(t, <-first)
	}
	require.NoError(t, <-whole)
	peak := procKiB(t, pid, "VmHWM")
	t.Logf("RSS before the resumes %d MiB, peak %d MiB: growth %d MiB", base>>10, peak>>10, (peak-base)>>10)
	require.Less(t, peak-base, int64(maxGrowth), "memory grew with history × resumes")
}
