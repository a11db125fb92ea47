package chaos

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/report"
	"ssehub/internal/chaos/schedule"
	"ssehub/internal/testkit/need"
	"ssehub/internal/testkit/process"
)

// TestChaosShort is the short chaos run of `make test`: about 25 s per mode
// against the real binary (memory mode, then Redis mode with two instances
// and a real redis-server), failing on any violation with the seed and the
// projection of the history onto it. CHAOS_SEED reruns a seed,
// CHAOS_DURATION changes the length, CHAOS_BIN runs another binary. Bounds are loose enough for -race on
// two busy cores: a correct server never fails it.
func TestChaosShort(t *testing.T) {
	bin := os.Getenv("CHAOS_BIN")
	if bin == "" {
		bin = process.Binary(t)
	}
	seed := envSeed(t)
	duration := 25 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CHAOS_DURATION")); err == nil {
		duration = d
	}
	t.Logf("chaos seed %d (rerun with CHAOS_SEED=%d)", seed, seed)
	for _, mode := range []string{history.ModeMemory, history.ModeRedis} {
		t.Run(mode, func(t *testing.T) {
			if mode == history.ModeRedis {
				need.Tool(t, "redis-server", "/usr/bin/redis-server")
			}
			ctx, cancel := context.WithTimeout(context.Background(), duration+3*time.Minute)
			defer cancel()
			o := schedule.Options{Seed: seed, Mode: mode, Duration: duration, Clients: 50, ClientBuffer: 64, Faults: true}
			dir := t.TempDir()
			res, err := RunChecked(ctx, o, Config{Bin: bin, Dir: dir, Silence: 5 * time.Second})
			require.NoError(t, err)
			var b strings.Builder
			report.Write(&b, res.History, res.Violations)
			if len(res.Violations) > 0 {
				logErrors(t, dir)
				t.Fatalf("chaos seed %d, mode %s failed (rerun with CHAOS_SEED=%d):\n%s", seed, mode, seed, b.String())
			}
			t.Log(b.String())
		})
	}
}

// logErrors prints what the processes logged as errors, so that a failure
// in CI still names its cause once the run's directory is gone.
func logErrors(t *testing.T, dir string) {
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	require.NoError(t, err)
	for _, name := range logs {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		var lines []string
		for line := range strings.Lines(string(b)) {
			// Not the access log's lines: every 503 of an outage is one.
			if strings.Contains(line, "error") && !strings.Contains(line, "[HTTP]") && len(lines) < 50 {
				lines = append(lines, line)
			}
		}
		t.Logf("%s, error lines (first 50):\n%s", filepath.Base(name), strings.Join(lines, ""))
	}
}

func envSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("CHAOS_SEED"); s != "" && s != "0" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "CHAOS_SEED")
		return seed
	}
	return uint64(time.Now().UnixNano()) >> 1
}
