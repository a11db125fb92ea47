package hardening

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zeromicro/go-zero/core/conf"

	"ssehub/internal/config"
)

// TestShippedConfigLoads keeps etc/ssehub.yaml's security settings valid.
func TestShippedConfigLoads(t *testing.T) {
	t.Parallel()
	var c config.Config
	require.NoError(t, conf.Load("../../etc/ssehub.yaml", &c, conf.UseEnv()))
	require.Equal(t, 256, c.Sse.MaxClientsPerIP)
	require.Equal(t, "ssehub_token", c.Auth.Cookie)
	require.False(t, c.Auth.Enabled)
	require.Empty(t, c.Cors.Origins)
	_, err := newServer(c)
	require.NoError(t, err)
}
