package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"ssehub/internal/auth"
)

const secret = "ssetoken-test-secret-0123456789abcdef"

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ssetoken")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func TestMintedTokenVerifies(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(build(t), "-sub", "news, orders/*", "-pub", "news", "-ttl", "5m")
	cmd.Env = append(os.Environ(), "SSEHUB_JWT_SECRET="+secret)
	out, err := cmd.Output()
	require.NoError(t, err)
	v, err := auth.NewVerifier(secret, "")
	require.NoError(t, err)
	id, err := v.Verify(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	require.True(t, id.Subscribe.Allows("orders/1"))
	require.True(t, id.Publish.Allows("news"))
	require.False(t, id.Publish.Allows("orders/1"))
}

func TestRefusesWeakSecretAndBadPattern(t *testing.T) {
	t.Parallel()
	require.ErrorIs(t, run("short", "dev", "a", "", 1), auth.ErrWeakSecret)
	require.ErrorIs(t, run(secret, "dev", "a*", "", 1), auth.ErrBadPattern)
}
