// Package metrics holds ssehub's Prometheus metrics, made with go-zero's
// metric package and served from /metrics on the main port.
package metrics

import (
	"github.com/zeromicro/go-zero/core/metric"
	"github.com/zeromicro/go-zero/core/prometheus"

	"ssehub/internal/hub"
)

const namespace = "ssehub"

var (
	clients = metric.NewGaugeVec(&metric.GaugeVecOpts{
		Namespace: namespace, Name: "clients", Help: "Open event streams.",
	})
	published = metric.NewCounterVec(&metric.CounterVecOpts{
		Namespace: namespace, Name: "events_published_total", Help: "Events appended to the log.",
		Labels: []string{"topic"},
	})
	delivered = metric.NewCounterVec(&metric.CounterVecOpts{
		Namespace: namespace, Name: "events_delivered_total", Help: "Events queued to clients.",
	})
	disconnected = metric.NewCounterVec(&metric.CounterVecOpts{
		Namespace: namespace, Name: "clients_disconnected_total", Help: "Streams ended, by reason.",
		Labels: []string{"reason"},
	})
	replayed = metric.NewCounterVec(&metric.CounterVecOpts{
		Namespace: namespace, Name: "replayed_events_total", Help: "Events sent from history on resume.",
	})
	resets = metric.NewCounterVec(&metric.CounterVecOpts{
		Namespace: namespace, Name: "resets_total", Help: "Resets sent because a Last-Event-ID could not be resumed.",
	})
	redisUp = metric.NewGaugeVec(&metric.GaugeVecOpts{
		Namespace: namespace, Name: "redis_up", Help: "1 while the Redis log is reachable.",
	})
)

var _ hub.Observer = Hub{}

// Enable turns on go-zero's metric updates, which are no-ops until then.
func Enable() {
	prometheus.Enable()
}

// Hub reports the hub's changes.
type Hub struct{}

// Clients sets the open-stream gauge.
func (Hub) Clients(n int) { clients.Set(float64(n)) }

// Delivered counts events queued to clients.
func (Hub) Delivered(n int) { delivered.Add(float64(n)) }

// Disconnected counts a stream that ended.
func (Hub) Disconnected(r hub.Reason) { disconnected.Inc(string(r)) }

// Published counts an appended event.
func Published(topic string) { published.Inc(topic) }

// Replayed counts events sent from history.
func Replayed(n int) { replayed.Add(float64(n)) }

// Reset counts a reset event.
func Reset() { resets.Inc() }

// RedisUp records whether Redis is reachable.
func RedisUp(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	redisUp.Set(v)
}
