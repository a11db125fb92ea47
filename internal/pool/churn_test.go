package pool

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/sse"
)

// TestChurnKeepsEveryStreamIntact checks the writers' invariant under a
// seeded, random load: bursts that overflow small queues, so streams lag and
// catch up from the log again and again, while readers with small receive
// buffers pause at random, so writes go short and catch-up writes block
// halfway. Every reader must get a well-formed chunked body with every
// event, in order, exactly once; under -race the detector watches the
// writers too.
func TestChurnKeepsEveryStreamIntact(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CHURN_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("churn seed %d (rerun with CHURN_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	f := start(t, 8, false)
	f.pageDelay.Store(int64(2 * time.Millisecond))
	const readers, rounds = 12, 6
	deadline, ok := t.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Minute)
	}
	streams := make([]*sse.Reader, readers)
	pauses := make([]*rand.Rand, readers)
	for i := range streams {
		query := ""
		if i%4 == 3 {
			query = "?goroutine"
		}
		_, _, streams[i] = f.dialUntil(t, smallBuffer, query, deadline)
		pauses[i] = rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
	}
	sizes := make([]int, rounds)
	bursts := make([][]string, rounds)
	for round := range sizes {
		sizes[round] = 1 + rng.IntN(400)
		for i := range sizes[round] {
			// Sizes vary too, so batches split anywhere in a frame.
			data := fmt.Sprintf("%d.%d.%s", round, i, strings.Repeat("x", rng.IntN(300)))
			bursts[round] = append(bursts[round], fmt.Sprintf("%q", data))
		}
	}
	stop := f.publish(t, bursts)
	var wg sync.WaitGroup
	for i, r := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readAll(t, i, r, pauses[i], sizes)
		}()
	}
	wg.Wait()
	stop()
	require.Positive(t, f.replays.Load(), "no stream caught up from the log: the load did not make any lag")
	if t.Failed() {
		t.Logf("churn seed %d failed (rerun with CHURN_SEED=%d)", seed, seed)
	}
}

// readAll reads every event of sizes' rounds from r, pausing at random, and
// fails unless each arrives once, in publish order.
func readAll(t *testing.T, i int, r *sse.Reader, pause *rand.Rand, sizes []int) {
	for round, size := range sizes {
		for n := 0; n < size; {
			if pause.IntN(20) == 0 {
				time.Sleep(time.Duration(pause.IntN(3000)) * time.Microsecond)
			}
			frame, err := r.Next()
			if err != nil {
				t.Errorf("reader %d at %d.%d: %v", i, round, n, err)
				return
			}
			if frame.ID == "" {
				continue
			}
			var data string
			if _, err := fmt.Sscanf(frame.Data, "%q", &data); err != nil {
				t.Errorf("reader %d at %d.%d: event %s has malformed data %.80q", i, round, n, frame.ID, frame.Data)
				return
			}
			if want := fmt.Sprintf("%d.%d.", round, n); len(data) < len(want) || data[:len(want)] != want {
				t.Errorf("reader %d: event %s is %.40q, want %s", i, frame.ID, data, want)
				return
			}
			n++
		}
	}
}
