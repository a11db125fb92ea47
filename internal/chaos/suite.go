package chaos

import (
	"context"
	"fmt"
	"time"

	"ssehub/internal/chaos/check"
	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/schedule"
	"ssehub/internal/chaos/violation"
)

// Result is one checked run.
type Result struct {
	Schedule   schedule.Schedule
	History    *history.History
	Violations []violation.Violation
}

// RunChecked generates the schedule of o, runs it and checks its history.
func RunChecked(ctx context.Context, o schedule.Options, cfg Config) (Result, error) {
	s := schedule.Generate(o)
	h, err := Run(ctx, s, cfg)
	if err != nil {
		return Result{Schedule: s}, fmt.Errorf("seed %d, mode %s: %w", o.Seed, o.Mode, err)
	}
	return Result{Schedule: s, History: h, Violations: check.Check(h)}, nil
}

// Shrunk returns the options of a smaller run aimed at v: the same seed,
// only v's client, and the run cut a few seconds after v, so the bursts and
// faults up to it are the same. Nil when v involves no client.
func Shrunk(o schedule.Options, v violation.Violation) *schedule.Options {
	if v.Client < 0 {
		return nil
	}
	small := o
	small.Only = []int{v.Client}
	small.Duration = min(o.Duration, (v.At + 5*time.Second).Round(time.Second))
	return &small
}

// Reproduces reports whether res has a violation of kind.
func (res Result) Reproduces(kind violation.Kind) bool {
	for _, v := range res.Violations {
		if v.Kind == kind {
			return true
		}
	}
	return false
}
