package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"ssehub/internal/redistest"
	"ssehub/internal/testkit/need"
)

// nofile is the descriptor limit the containers get unless a test needs
// another: the engine's default exceeds what this sandbox allows, and
// Sse.MaxClients derives from it (nofile − 100 streams).
const nofile = 4096

// The image is built once per test binary and shared by every test; TestMain
// removes it.
var image struct {
	once   sync.Once
	podman string
	tag    string
	dir    string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if image.tag != "" {
		if out, err := exec.Command(image.podman, "rmi", "-f", image.tag).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "removing image %s: %v\n%s", image.tag, err, out)
			code = 1
		}
	}
	if image.dir != "" {
		_ = os.RemoveAll(image.dir)
	}
	os.Exit(code)
}

// engine is podman with the OCI runtime this machine needs (crun refuses its
// hybrid cgroups; runc works).
type engine struct {
	podman, runc string
}

// needEngine skips the test without podman and runc, except under CI=true.
func needEngine(t *testing.T) engine {
	t.Helper()
	return engine{
		podman: need.Tool(t, "podman", "/usr/bin/podman"),
		runc:   need.Tool(t, "runc", "/usr/sbin/runc"),
	}
}

// run runs podman with args and returns its stdout; an error carries stderr.
func (e engine) run(args ...string) (string, error) {
	cmd := exec.Command(e.podman, append([]string{"--runtime", e.runc}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// image builds the image as a user would, with `make image`, in a clean
// copy of the checkout, once per test binary.
func (e engine) image(t *testing.T) string {
	t.Helper()
	image.once.Do(func() {
		image.podman = e.podman
		image.dir, image.err = os.MkdirTemp("", "ssehub-image-")
		if image.err != nil {
			return
		}
		if image.err = copyCheckout("..", image.dir); image.err != nil {
			return
		}
		tag := "localhost/ssehub-test:" + strconv.Itoa(os.Getpid())
		cmd := exec.Command("make", "image", "IMAGE="+tag, "ENGINE="+e.podman)
		cmd.Dir = image.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			image.err = fmt.Errorf("make image: %w\n%s", err, out)
			return
		}
		image.tag = tag
	})
	require.NoError(t, image.err)
	return image.tag
}

// copyCheckout copies what a fresh clone of the working tree holds (tracked
// and new files, nothing ignored, so no bin/ left from earlier builds) from
// root to dst. Uncommitted edits are included, so the test builds the code
// under test.
func copyCheckout(root, dst string) error {
	cmd := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("list the files of the git checkout: %w: %s", err, stderr.String())
	}
	for _, name := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		err := copyFile(filepath.Join(root, name), filepath.Join(dst, name))
		// A tracked file deleted in the working tree is not part of it.
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// container is one running ssehub container.
type container struct {
	e    engine
	name string
}

// start runs the image detached with the descriptor limit nofile and args
// (before the image name), and removes the container at cleanup, showing
// its logs if the test failed.
func (e engine) start(t *testing.T, nofile int, args ...string) *container {
	t.Helper()
	tag := e.image(t)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	c := &container{e: e, name: "ssehub-test-" + hex.EncodeToString(suffix)}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command(e.podman, "logs", c.name).CombinedOutput()
			t.Logf("logs of %s:\n%s", c.name, logs)
		}
		if _, err := e.run("rm", "-f", "-t", "0", c.name); err != nil {
			t.Errorf("removing container: %v", err)
		}
	})
	limit := strconv.Itoa(nofile)
	run := []string{"run", "-d", "--name", c.name,
		"--ulimit", "nofile=" + limit + ":" + limit, "--ulimit", "nproc=4096:4096"}
	_, err := e.run(append(append(run, args...), tag)...)
	require.NoError(t, err)
	return c
}

// publishPort maps a free loopback port of the host to the container's port
// and returns podman's flag and the base URL on the host.
func publishPort(t *testing.T, containerPort int) (flag, base string) {
	t.Helper()
	host := strconv.Itoa(redistest.FreePort(t))
	return "--publish=127.0.0.1:" + host + ":" + strconv.Itoa(containerPort),
		"http://" + net.JoinHostPort("127.0.0.1", host)
}

// inspect returns one field of podman inspect, as a Go template.
func (c *container) inspect(t *testing.T, format string) string {
	t.Helper()
	out, err := c.e.run("inspect", "--format", format, c.name)
	require.NoError(t, err)
	return out
}

// pid is the container's main process as the host sees it.
func (c *container) pid(t *testing.T) int {
	t.Helper()
	pid, err := strconv.Atoi(c.inspect(t, "{{.State.Pid}}"))
	require.NoError(t, err)
	require.Positive(t, pid)
	return pid
}

// healthcheck runs the image's HEALTHCHECK once and returns podman's exit
// code (0 healthy, 1 unhealthy).
func (c *container) healthcheck(t *testing.T) int {
	t.Helper()
	_, err := c.e.run("healthcheck", "run", c.name)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// stdout is what the container wrote to its standard output.
func (c *container) stdout(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(c.e.podman, "logs", c.name).Output()
	require.NoError(t, err)
	return string(out)
}
