package benchreport

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// PrintTable writes the reports in the JSON array at path as a Markdown table.
func PrintTable(w io.Writer, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var reps []Report
	if err := json.Unmarshal(data, &reps); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintln(w, "| scenario | conns | events/s | established (failed) | establish s | lost | dup | p50 ms | p90 ms | p99 ms | max ms | spread p99 ms | RSS KiB/conn (added) | CPU µs/event | server CPU % | load |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range reps {
		rss, cpu, util := "-", "-", "-"
		if s := r.Server; s != nil {
			rss = fmt.Sprintf("%.2f (%.2f)", s.RSSTotalPerConn, s.RSSPerConnKiB)
			cpu = fmt.Sprintf("%.2f", s.CPUPerEventUs)
			util = fmt.Sprintf("%.0f", s.CPUUtilPct)
		}
		fmt.Fprintf(w, "| %s | %d | %g | %d (%d) | %.2f | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s | %s | %s |\n",
			r.Scenario, r.Conns, r.Rate, r.Established, r.Failed, r.EstablishSec, r.Lost, r.Dup,
			r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.Max, r.SpreadMs.P99, rss, cpu, util,
			firstField(r.LoadAvg))
	}
	return nil
}

func firstField(s string) string {
	for i := range s {
		if s[i] == ' ' {
			return s[:i]
		}
	}
	return s
}
