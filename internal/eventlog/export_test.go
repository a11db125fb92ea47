package eventlog

// NewMemoryAt is newMemory for the external tests: a log on a given clock.
var NewMemoryAt = newMemory
