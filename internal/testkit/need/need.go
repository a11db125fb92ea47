// Package need is the one rule for a test whose tool is not installed: it
// skips on a developer's machine and fails under CI=true, where CI installs
// every tool, so a skip there would hide a broken setup. It depends on
// nothing in ssehub, so every package's tests can use it.
package need

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Tool returns the path of the tool name, at path or on PATH, or ends the
// test by the rule above.
func Tool(t testing.TB, name, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if found, err := exec.LookPath(name); err == nil {
		return found
	}
	Missing(t, "%s is not installed (looked for %s and on PATH)", name, path)
	return ""
}

// Missing ends the test for what is missing: a failure under CI=true, a
// skip elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must install it", what)
	}
	t.Skipf("%s: install it to run this test", what)
}
