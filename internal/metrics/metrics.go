// Package metrics holds ssehub's Prometheus metrics. Each server instance
// has its own registry, so servers in one process (tests) count alone;
// /metrics serves it together with go-zero's HTTP metrics, which live in
// the default registry.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	gozero "github.com/zeromicro/go-zero/core/prometheus"

	"ssehub/internal/hub"
)

const namespace = "ssehub"

// Observer is everything ssehub counts, in one interface: the hub's part
// (hub.Observer, which the hub cannot import from here) and the publish
// path, resume and the Redis log. Components are given an Observer; only the
// /metrics route sees the registry behind it.
type Observer interface {
	hub.Observer
	Published(topic string)
	Replayed(n int)
	Reset()
	RedisUp(up bool)
}

// Metrics is one instance's Observer, counting into its own registry.
type Metrics struct {
	reg          *prometheus.Registry
	topics       *TopicLabels
	clients      prometheus.Gauge
	published    *prometheus.CounterVec
	delivered    prometheus.Counter
	disconnected *prometheus.CounterVec
	replayed     prometheus.Counter
	resets       prometheus.Counter
	redisUp      prometheus.Gauge
}

var _ Observer = (*Metrics)(nil)

// Options configure an instance's Metrics.
type Options struct {
	// Topics bounds the topic label of ssehub_events_published_total.
	Topics *TopicLabels
	// Redis adds ssehub_redis_up.
	Redis bool
}

// New registers an instance's metrics in a registry of its own.
func New(o Options) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:    reg,
		topics: o.Topics,
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "clients", Help: "Open event streams.",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_published_total", Help: "Events appended to the log.",
		}, []string{"topic"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_delivered_total", Help: "Events queued to clients.",
		}),
		disconnected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "clients_disconnected_total", Help: "Streams ended, by reason.",
		}, []string{"reason"}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "replayed_events_total", Help: "Events sent from history on resume.",
		}),
		resets: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "resets_total", Help: "Resets sent because a Last-Event-ID could not be resumed.",
		}),
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "redis_up", Help: "1 while the Redis log is reachable.",
		}),
	}
	reg.MustRegister(m.clients, m.published, m.delivered, m.disconnected, m.replayed, m.resets)
	if o.Redis {
		reg.MustRegister(m.redisUp)
	}
	return m
}

// Enable turns on go-zero's HTTP metrics, which are no-ops until then.
func Enable() {
	gozero.Enable()
}

// Handler serves this instance's metrics and go-zero's, as Prometheus text.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{m.reg, prometheus.DefaultGatherer}, promhttp.HandlerOpts{})
}

// Clients sets the open-stream gauge.
func (m *Metrics) Clients(n int) { m.clients.Set(float64(n)) }

// Delivered counts events queued to clients.
func (m *Metrics) Delivered(n int) { m.delivered.Add(float64(n)) }

// Disconnected counts a stream that ended, or was refused, by reason.
func (m *Metrics) Disconnected(r hub.Reason) { m.disconnected.WithLabelValues(string(r)).Inc() }

// Published counts an appended event under its topic's bounded label.
func (m *Metrics) Published(topic string) { m.published.WithLabelValues(m.topics.Of(topic)).Inc() }

// Replayed counts events sent from history.
func (m *Metrics) Replayed(n int) { m.replayed.Add(float64(n)) }

// Reset counts a reset event.
func (m *Metrics) Reset() { m.resets.Inc() }

// RedisUp records whether Redis is reachable.
func (m *Metrics) RedisUp(up bool) {
	if up {
		m.redisUp.Set(1)
	} else {
		m.redisUp.Set(0)
	}
}
