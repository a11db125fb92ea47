package redislog_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"ssehub/internal/event"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/redislog"
	"ssehub/internal/redistest"
)

// benchLogs builds each log with the default Replay bounds, side by side so
// one run compares them, and returns what ends its Run at once; the Redis
// log talks to a real local redis-server, as an instance would.
var benchLogs = map[string]func(b *testing.B) (eventlog.Log, func()){
	"memory": func(b *testing.B) (eventlog.Log, func()) {
		return eventlog.NewMemory(eventlog.MemoryOptions{Size: 10000, MaxAge: 5 * time.Minute}), func() {}
	},
	"redis": func(b *testing.B) (eventlog.Log, func()) {
		srv := redistest.Start(b)
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
		b.Cleanup(func() { _ = rdb.Close() })
		l := redislog.New(rdb, redislog.Options{Prefix: "bench", Size: 10000, MaxAge: 5 * time.Minute})
		// A blocked XREAD ends when its connection closes, not on ctx.
		return l, func() { _ = rdb.Close() }
	},
}

// runLog starts l's delivery into ch and stops it at cleanup.
func runLog(b *testing.B, l eventlog.Log, unblock func(), ch chan<- *event.Event) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx, func(ev *event.Event) { ch <- ev })
	}()
	b.Cleanup(func() {
		cancel()
		unblock()
		<-done
	})
}

// BenchmarkPublishToDelivery measures one publish at a time: ns/op is the
// time from Append to the event reaching the hub's sink.
func BenchmarkPublishToDelivery(b *testing.B) {
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			l, unblock := benchLogs[name](b)
			ch := make(chan *event.Event, 1)
			runLog(b, l, unblock, ch)
			m := event.Message{Topic: "bench", Type: "m", Data: []byte(`{"n":1}`)}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				id, _, err := l.Append(context.Background(), m)
				if err != nil {
					b.Fatal(err)
				}
				for ev := <-ch; ev.ID != id; ev = <-ch {
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}

// BenchmarkPublishThroughput measures events/s with 8 concurrent publishers,
// counted when the last event has been delivered.
func BenchmarkPublishThroughput(b *testing.B) {
	const publishers = 8
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			l, unblock := benchLogs[name](b)
			ch := make(chan *event.Event, 1024)
			runLog(b, l, unblock, ch)
			m := event.Message{Topic: "bench", Type: "m", Data: []byte(`{"n":1}`)}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := range publishers {
				wg.Go(func() {
					for i := p; i < b.N; i += publishers {
						if _, _, err := l.Append(context.Background(), m); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			for range b.N {
				<-ch
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
