package sse

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gosse "github.com/tmaxmax/go-sse"
)

// The encoder is checked against github.com/tmaxmax/go-sse's parser, one
// written by other hands than this package's, so a mistake shared by the
// encoder and Reader cannot pass unseen.

// oracleEvent is what the spec says a client dispatches for one frame.
type oracleEvent struct{ lastID, typ, data string }

// parseWithGoSSE returns every event go-sse dispatches from stream.
func parseWithGoSSE(t *testing.T, stream []byte) []oracleEvent {
	t.Helper()
	var out []oracleEvent
	for ev, err := range gosse.Read(bytes.NewReader(stream), nil) {
		require.NoError(t, err)
		out = append(out, oracleEvent{ev.LastEventID, ev.Type, ev.Data})
	}
	return out
}

// normalized is data as a client reads it: CR, LF and CRLF all end a line.
func normalized(data string) string {
	return strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data)
}

// TestEncoderAgainstGoSSE: a seeded stream of random frames (events with
// awkward data, comments, retry lines) reads back, event for event, as
// go-sse dispatches it. SSE_SEED reruns a seed.
func TestEncoderAgainstGoSSE(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SSE_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	pieces := []string{"a", "é", "日本", " ", ":", "data: x", "id: 9", "event: y", "\n", "\r", "\r\n", "\n\n", "retry: 1", "\t", "{}", "\x00"}
	random := func(n int, from []string) string {
		var b strings.Builder
		for range rng.IntN(n + 1) {
			b.WriteString(from[rng.IntN(len(from))])
		}
		return b.String()
	}
	oneLine := []string{"a", "é", " ", ":", "-", "1", "x y"}
	var stream []byte
	var want []oracleEvent
	lastID := ""
	for i := range 2000 {
		switch rng.IntN(8) {
		case 0:
			stream = AppendComment(stream, random(4, pieces))
		case 1:
			stream = AppendRetry(stream, rng.Int64N(10_000))
		default:
			id, typ, data := "", random(3, oneLine), random(8, pieces)
			if rng.IntN(4) > 0 {
				id = strconv.Itoa(i) + "-" + random(2, oneLine)
				lastID = id
			}
			var err error
			stream, err = AppendEvent(stream, id, typ, []byte(data))
			require.NoError(t, err)
			want = append(want, oracleEvent{lastID, typ, normalized(data)})
		}
	}
	require.Equal(t, want, parseWithGoSSE(t, stream), "seed %d (rerun with SSE_SEED=%d)", seed, seed)
}
