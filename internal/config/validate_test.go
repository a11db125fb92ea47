package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zeromicro/go-zero/core/conf"

	"ssehub/internal/config"
)

const base = "Name: t\nHost: 127.0.0.1\nPort: 0\n"

func load(yaml string) error {
	var c config.Config
	return conf.LoadFromYamlBytes([]byte(base+yaml), &c)
}

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	require.NoError(t, load(""))
	// 0 switches these off.
	require.NoError(t, load("Sse:\n  HeartbeatInterval: 0s\n  TickInterval: 0s\n"))
	require.NoError(t, load("Sse:\n  TrustedProxies: [127.0.0.1, 10.0.0.0/8, \"::1\"]\n"))
}

// TestOutOfRangeSettingsStopTheLoad: every bad value fails at load with a
// message naming its key.
func TestOutOfRangeSettingsStopTheLoad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, key string }{
		{"Sse:\n  WriteTimeout: 0s\n", "Sse.WriteTimeout"},
		{"Sse:\n  HeartbeatInterval: -1s\n", "Sse.HeartbeatInterval"},
		{"Sse:\n  TickInterval: -1s\n", "Sse.TickInterval"},
		{"Sse:\n  Retry: 0s\n", "Sse.Retry"},
		{"Sse:\n  ReadHeaderTimeout: 0s\n", "Sse.ReadHeaderTimeout"},
		{"Sse:\n  IdleTimeout: 0s\n", "Sse.IdleTimeout"},
		{"Sse:\n  Replay:\n    MaxAge: 0s\n", "Sse.Replay.MaxAge"},
		{"Sse:\n  TrustedProxies: [0.0.0.0/0]\n", "Sse.TrustedProxies"},
		{"Sse:\n  TrustedProxies: [\"::/0\"]\n", "Sse.TrustedProxies"},
		{"Sse:\n  TrustedProxies: [proxy.local]\n", "Sse.TrustedProxies"},
		{"Sse:\n  DefaultTopics: [\"a b\"]\n", "Sse.DefaultTopics"},
		{"Sse:\n  MaxTopics: 1\n  DefaultTopics: [a, b]\n", "Sse.DefaultTopics"},
		{"Auth:\n  Enabled: true\n  TicketTTL: 0s\n", "Auth.TicketTTL"},
		{"Timeout: 0\n", "Timeout"},
		{"Shutdown:\n  WaitTime: -1s\n", "Shutdown.WaitTime"},
	} {
		err := load(tc.yaml)
		require.ErrorIs(t, err, config.ErrInvalid, tc.yaml)
		require.ErrorContains(t, err, tc.key, tc.yaml)
	}
}
