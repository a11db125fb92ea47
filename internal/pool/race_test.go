//go:build race

package pool

// The race detector allocates on its own, so allocation counts are checked
// only without it.
const raceEnabled = true
