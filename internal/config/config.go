// Package config is ssehub's YAML configuration: go-zero's RestConf at the top
// level, the service's own settings under Sse, Auth and Redis.
package config

import (
	"time"

	"github.com/zeromicro/go-zero/rest"
)

// Config is the whole configuration file.
type Config struct {
	rest.RestConf
	Sse   SseConf
	Auth  AuthConf
	Cors  CorsConf
	Redis RedisConf
}

// CorsConf lists the browser origins (scheme://host[:port]) that may call
// the API from other sites, with credentials; empty means none may.
type CorsConf struct {
	Origins []string `json:",optional"`
}

// SseConf shapes the streams.
type SseConf struct {
	TickInterval      time.Duration `json:",default=1s"`
	HeartbeatInterval time.Duration `json:",default=15s"`
	Retry             time.Duration `json:",default=3s"`
	// ClientBuffer is how many events may queue for one client before it is cut off.
	ClientBuffer int `json:",default=64,range=[1:100000]"`
	// MaxClients 0 derives the limit from the descriptor limit, keeping a reserve.
	MaxClients    int      `json:",default=0,range=[0:10000000]"`
	MaxEventBytes int64    `json:",default=65536,range=[256:67108864]"`
	MaxTopics     int      `json:",default=32,range=[1:1024]"`
	DefaultTopics []string `json:",default=[tick]"`
	// PublishOpen lets anyone POST /publish while Auth is off.
	PublishOpen bool `json:",default=false"`
	// MaxClientsPerIP caps the open streams of one remote address; 0 = no cap.
	MaxClientsPerIP int `json:",default=256,range=[0:10000000]"`
	// TrustedProxies are the addresses (or CIDRs) of reverse proxies whose
	// X-Forwarded-For names the client; from anyone else it is ignored.
	TrustedProxies []string `json:",optional"`
	// PublishRate is the publishes per second allowed per token (per remote
	// address while Auth is off), in bursts of PublishBurst; 0 = no limit.
	// POST /tickets has a bucket of the same size of its own.
	PublishRate  float64 `json:",default=100,range=[0:1000000]"`
	PublishBurst int     `json:",default=200,range=[1:1000000]"`
	// MetricTopics is how many topics, besides tick and DefaultTopics, get
	// their own topic label in ssehub_events_published_total; later ones
	// are counted as "(other)".
	MetricTopics int `json:",default=100,range=[0:100000]"`
	// WriteTimeout bounds one batched write to a client: a client that
	// takes no bytes for this long stopped reading and is cut off.
	WriteTimeout time.Duration `json:",default=10s"`
	// SendBuffer bounds each connection's kernel send buffer (SO_SNDBUF;
	// the kernel doubles it for its bookkeeping), so a client that stops
	// reading pins at most about twice this much of the machine's TCP
	// memory; 0 keeps the kernel's autotuning (up to 4 MiB per socket).
	SendBuffer int `json:",default=65536,range=[0:67108864]"`
	// ReadHeaderTimeout and IdleTimeout replace the http.Server timeouts that
	// rest.WithTimeout(0) switches off for the whole server.
	ReadHeaderTimeout time.Duration `json:",default=5s"`
	IdleTimeout       time.Duration `json:",default=60s"`
	// Hijack lets plain HTTP/1.1 streams leave net/http once their history
	// is out: a few writer goroutines and one epoll loop serve them all,
	// instead of a goroutine and buffers per stream (see docs/perf.md).
	Hijack bool `json:",default=true"`
	// Writers is how many goroutines write taken-over streams; 0 = half the
	// processors, at least one.
	Writers int `json:",default=0,range=[0:1024]"`
	Replay  ReplayConf
}

// ReplayConf bounds the history kept for Last-Event-ID resume.
type ReplayConf struct {
	Size   int           `json:",default=10000,range=[1:10000000]"`
	MaxAge time.Duration `json:",default=5m"`
}

// AuthConf turns on JWT checks for /sse and /publish.
type AuthConf struct {
	Enabled    bool          `json:",default=false"`
	Secret     string        `json:",optional"`
	PrevSecret string        `json:",optional"`
	Cookie     string        `json:",default=ssehub_token"`
	TicketTTL  time.Duration `json:",default=30s"`
}

// RedisConf switches to the shared Redis Streams log when Addr is set; every
// instance with the same Addr and KeyPrefix shares one history and one ticker.
type RedisConf struct {
	Addr      string `json:",optional"`
	Password  string `json:",optional"`
	KeyPrefix string `json:",default=ssehub"`
	TLS       bool   `json:",default=false"`
}

// Enabled reports whether Redis mode is configured.
func (r RedisConf) Enabled() bool {
	return r.Addr != ""
}
