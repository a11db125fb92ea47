package system_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/redistest"
	"ssehub/internal/testkit"
)

// BenchmarkHTTPPublishToStream measures, through a real in-process server,
// one POST /publish at a time until its event is read from an open stream:
// HTTP, log, hub and stream writer, in-memory vs Redis mode.
func BenchmarkHTTPPublishToStream(b *testing.B) {
	const sseConf = "TickInterval: 1h\nPublishRate: 0"
	modes := map[string]func(b *testing.B) string{
		"memory": func(*testing.B) string { return "" },
		"redis": func(b *testing.B) string {
			return "Redis:\n  Addr: " + redistest.Start(b).Addr + "\n  KeyPrefix: bench\n"
		},
	}
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			srv := testkit.Start(b, testkit.Config(b, sseConf, modes[name](b)))
			testkit.WaitReady(b, srv.URL, true)
			s := testkit.Open(b, srv.URL+"/sse?topic=bench", nil)
			body := `{"topic":"bench","event":"m","data":{"n":1}}`
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp, err := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(body))
				require.NoError(b, err)
				_ = resp.Body.Close()
				require.Equal(b, http.StatusOK, resp.StatusCode)
				s.NextEvent(b)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
		})
	}
}
