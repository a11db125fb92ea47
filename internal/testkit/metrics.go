package testkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Metrics returns the text of base's /metrics.
func Metrics(t testing.TB, base string) string {
	t.Helper()
	text, err := readMetrics(base)
	require.NoError(t, err)
	return text
}

// Metric returns the value of one sample of base's /metrics, named with its
// labels as in the text (`ssehub_clients`, `x_total{reason="slow"}`), 0 if
// absent: a counter nobody has counted yet is not exported.
func Metric(t testing.TB, base, sample string) float64 {
	t.Helper()
	v, err := metric(base, sample)
	require.NoError(t, err)
	return v
}

// MetricNow is Metric off the test's goroutine (in require.Eventually): -1
// when /metrics cannot be read.
func MetricNow(base, sample string) float64 {
	v, err := metric(base, sample)
	if err != nil {
		return -1
	}
	return v
}

func metric(base, sample string) (float64, error) {
	text, err := readMetrics(base)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s: %w", sample, err)
			}
			return f, nil
		}
	}
	return 0, nil
}

func readMetrics(base string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("read /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("read /metrics: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
