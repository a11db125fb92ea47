// Package settings is the server config a chaos run starts ssehub with,
// and the bounds the check derives from it.
package settings

import (
	"fmt"
	"strings"
	"time"

	"ssehub/internal/chaos/history"
)

// The server settings of a run. A short heartbeat and write timeout make
// the time rules checkable in seconds: a stream is never silent for more
// than Bounds.Silence, a stalled client is cut after WriteTimeout.
const (
	heartbeat    = time.Second
	writeTimeout = 2 * time.Second
	shutdownWait = 3 * time.Second
	replaySize   = 10000
	replayAge    = 5 * time.Minute
	// orphanQueue is how much a socket the server closed may keep while
	// nobody reads it: a bounded send buffer (a stream cut for not reading
	// is reset and keeps nothing); Linux's autotuned buffer, up to 4 MiB,
	// is not a bound.
	orphanQueue = 256 << 10
)

// Bounds are the limits the check applies to a run of these settings;
// silence, when set, replaces the silence bound of 4 heartbeats.
func Bounds(silence time.Duration) history.Bounds {
	b := history.Bounds{Silence: 4 * heartbeat, EndAfterKill: 3 * time.Second, EndAfterTerm: shutdownWait + time.Second,
		StalledCut: writeTimeout + 3*time.Second, WriteTimeout: writeTimeout, ReplaySize: replaySize, ReplayAge: replayAge, FDSlack: 4, GoroutineSlack: 8, QueueSlack: 64 << 10, OrphanQueue: orphanQueue}
	if silence > 0 {
		b.Silence = silence
	}
	return b
}

// YAML is the config of instance idx on port: short heartbeat and write
// timeout, no per-address limits (every client is 127.0.0.1), open
// publishing, ClientBuffer buffer, and Redis when redisAddr is set.
func YAML(idx, port, buffer int, redisAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name: chaos-%d\nHost: 127.0.0.1\nPort: %d\n", idx, port)
	b.WriteString("Log:\n  Mode: console\n  Encoding: plain\n  Level: error\n  Stat: false\n")
	fmt.Fprintf(&b, "Shutdown:\n  WrapUpTime: 100ms\n  WaitTime: %s\n", shutdownWait)
	fmt.Fprintf(&b, "Sse:\n  PublishOpen: true\n  PublishRate: 0\n  MaxClientsPerIP: 0\n  TickInterval: 1s\n"+
		"  HeartbeatInterval: %s\n  WriteTimeout: %s\n  ClientBuffer: %d\n  Replay:\n    Size: %d\n    MaxAge: %s\n",
		heartbeat, writeTimeout, buffer, replaySize, replayAge)
	if redisAddr != "" {
		fmt.Fprintf(&b, "Redis:\n  Addr: %s\n  KeyPrefix: chaos\n", redisAddr)
	}
	return b.String()
}
