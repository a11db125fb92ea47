package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/auth"
	"ssehub/internal/redistest"
	"ssehub/internal/sse"
	"ssehub/internal/testkit"
	"ssehub/internal/testkit/need"
	"ssehub/internal/testkit/process"
)

// The image's numeric user (Dockerfile USER).
const imageUID = "10001"

var (
	tickData = regexp.MustCompile(`^\{"time":"[^"]+","seq":\d+\}$`)
	statusID = regexp.MustCompile(`(?m)^(Uid|Gid):\t(\d+)\t(\d+)\t(\d+)\t(\d+)$`)
	clients  = regexp.MustCompile(`(?m)^ssehub_clients (\d+)$`)
)

// TestContainerDefaultImage runs the image as built, with only a mapped
// port, and checks it from the outside; the stop comes last.
func TestContainerDefaultImage(t *testing.T) {
	t.Parallel()
	e := needEngine(t)
	port, base := publishPort(t, 8080)
	c := e.start(t, nofile, port)
	testkit.WaitReady(t, base, true)

	t.Run("curl gets retry and a tick through the mapped port", func(t *testing.T) {
		curl := need.Tool(t, "curl", "/usr/bin/curl")
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, "-sN", base+"/sse")
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { cancel(); _ = cmd.Wait() })
		r := sse.NewReader(out)
		f, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, sse.Frame{Comment: "ok", IsComment: true}, f)
		require.Equal(t, 1, r.Retries)
		require.GreaterOrEqual(t, r.Retry, 3000, "Sse.Retry 3s plus jitter")
		for f.IsComment {
			f, err = r.Next()
			require.NoError(t, err)
		}
		require.True(t, f.HasID)
		require.Equal(t, "tick", f.Event)
		require.Regexp(t, tickData, f.Data)
	})

	t.Run("the process runs as the image's non-root uid", func(t *testing.T) {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.pid(t)))
		require.NoError(t, err)
		ids := statusID.FindAllStringSubmatch(string(status), -1)
		require.Len(t, ids, 2, "Uid and Gid lines of\n%s", status)
		for _, id := range ids {
			// Real, effective, saved and filesystem ids.
			require.Equal(t, []string{imageUID, imageUID, imageUID, imageUID}, id[2:], id[1])
		}
	})

	t.Run("logs go to stdout", func(t *testing.T) {
		require.Contains(t, c.stdout(t), "ssehub listening")
	})

	t.Run("healthcheck passes while up and fails while the process is stopped", func(t *testing.T) {
		require.Equal(t, 0, c.healthcheck(t))
		pid := c.pid(t)
		// A stopped process still gets connections (the kernel completes
		// the handshake) but never answers: the probe's timeout decides.
		require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
		stopped := c.healthcheck(t)
		require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
		require.Equal(t, 1, stopped)
		require.Equal(t, 0, c.healthcheck(t))
	})

	t.Run("podman stop ends every stream cleanly and exits 0", func(t *testing.T) {
		var streams []*testkit.Stream
		for range 5 {
			s := testkit.Open(t, base+"/sse", nil)
			require.Equal(t, sse.Frame{Comment: "ok", IsComment: true}, s.Next(t))
			streams = append(streams, s)
		}
		const timeout = 10 * time.Second
		start := time.Now()
		_, err := e.run("stop", "-t", strconv.Itoa(int(timeout/time.Second)), c.name)
		require.NoError(t, err)
		took := time.Since(start)
		t.Logf("podman stop took %v", took)
		for _, s := range streams {
			s.End(t)
			require.Equal(t, 2, s.Retries(), "a stream ends with a retry line after the preamble's")
		}
		require.Equal(t, "0", c.inspect(t, "{{.State.ExitCode}}"))
		// Exit 0 already rules out the engine's SIGKILL; this bounds the drain.
		require.Less(t, took, timeout/2)
	})
}

// TestContainerMountedConfigAndEnvironment mounts the shipped config with
// another port and Auth on, and gives the secret in the environment.
func TestContainerMountedConfigAndEnvironment(t *testing.T) {
	t.Parallel()
	e := needEngine(t)
	cfg := shippedConfig(t, map[string]string{
		"Port: 8080":              "Port: 9090",
		"Auth:\n  Enabled: false": "Auth:\n  Enabled: true",
	})
	secret := strings.Repeat("container-secret-", 3)
	port, base := publishPort(t, 9090)
	c := e.start(t, nofile, port, "--volume="+cfg+":/etc/ssehub/ssehub.yaml:ro", "--env=SSEHUB_JWT_SECRET="+secret)
	testkit.WaitReady(t, base, true)

	// The probe reads the mounted file too, so it asks port 9090.
	require.Equal(t, 0, c.healthcheck(t))

	resp, body := request(t, http.MethodGet, base+"/sse?topic=news", nil, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
	var apiErr struct{ Code string }
	require.NoError(t, json.Unmarshal(body, &apiErr))
	require.Equal(t, "unauthorized", apiErr.Code)

	tok, err := auth.Mint(secret, "container", auth.Grants{Subscribe: []string{"news"}, Publish: []string{"news"}}, time.Hour)
	require.NoError(t, err)
	bearer := http.Header{"Authorization": {"Bearer " + tok}}
	s := testkit.Open(t, base+"/sse?topic=news", bearer)
	require.Equal(t, sse.Frame{Comment: "ok", IsComment: true}, s.Next(t))
	resp, body = request(t, http.MethodPost, base+"/publish", bearer, `{"topic":"news","event":"m","data":"in a container"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var published struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &published))
	require.Equal(t, sse.Frame{ID: published.ID, HasID: true, Event: "m", Data: "in a container"}, s.NextEvent(t))
}

// TestContainerStreamLimitFollowsNofile: the derived Sse.MaxClients is the
// container's descriptor limit minus 100.
func TestContainerStreamLimitFollowsNofile(t *testing.T) {
	t.Parallel()
	e := needEngine(t)
	port, base := publishPort(t, 8080)
	e.start(t, 150, port)
	testkit.WaitReady(t, base, true)
	for range 50 {
		s := testkit.Open(t, base+"/sse?topic=news", nil)
		require.Equal(t, sse.Frame{Comment: "ok", IsComment: true}, s.Next(t))
	}
	resp, body := request(t, http.MethodGet, base+"/sse?topic=news", nil, "")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), `"too_many_clients"`)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

// TestContainersScaleOutBehindNginx runs two containers on one redis-server
// of the host, behind deploy/nginx.conf in a real nginx: a client whose
// container is stopped resumes on the other with nothing missed. Host
// networking lets the containers reach Redis on the host's loopback.
func TestContainersScaleOutBehindNginx(t *testing.T) {
	t.Parallel()
	e := needEngine(t)
	need.Tool(t, "nginx", "/usr/sbin/nginx")
	srv := redistest.Start(t)
	var ctrs []*container
	var urls, addrs []string
	for _, name := range []string{"ssehub-a", "ssehub-b"} {
		port := redistest.FreePort(t)
		// The Redis address comes from the environment, as in the shipped config.
		cfg := writeConfig(t, process.YAML(name, port, "",
			"Redis:\n  Addr: ${SSEHUB_REDIS_ADDR}\n  KeyPrefix: containers\n"))
		ctrs = append(ctrs, e.start(t, nofile, "--network=host",
			"--volume="+cfg+":/etc/ssehub/ssehub.yaml:ro", "--env=SSEHUB_REDIS_ADDR="+srv.Addr))
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
		urls = append(urls, "http://"+addrs[len(addrs)-1])
	}
	for _, u := range urls {
		testkit.WaitReady(t, u, true)
	}
	proxyPort := redistest.FreePort(t)
	startNginx(t, nginxConfig(t, t.TempDir(), proxyPort, addrs...))
	base := "http://127.0.0.1:" + strconv.Itoa(proxyPort)
	testkit.WaitReady(t, base, true)

	s := testkit.Open(t, base+"/sse?topic=news", nil)
	require.Equal(t, sse.Frame{Comment: "ok", IsComment: true}, s.Next(t))
	var last string
	for range 2 {
		last = testkit.Publish(t, base, "news", "m", `"before"`)
		require.Equal(t, last, s.NextEvent(t).ID)
	}
	holder := holding(t, urls)
	survivor := urls[1-holder]

	_, err := e.run("stop", "-t", "10", ctrs[holder].name)
	require.NoError(t, err)
	s.End(t)
	require.Equal(t, 2, s.Retries(), "the stopped container ends the stream with a retry line")
	require.Equal(t, "0", ctrs[holder].inspect(t, "{{.State.ExitCode}}"))

	var missed []string
	for range 3 {
		missed = append(missed, testkit.Publish(t, survivor, "news", "m", `"while away"`))
	}
	r := testkit.Open(t, base+"/sse?topic=news", http.Header{"Last-Event-ID": {last}})
	for _, id := range missed {
		require.Equal(t, sse.Frame{ID: id, HasID: true, Event: "m", Data: "while away"}, r.NextEvent(t))
	}
	live := testkit.Publish(t, base, "news", "m", `"live"`)
	require.Equal(t, live, r.NextEvent(t).ID)
	require.Equal(t, 1-holder, holding(t, urls))
}

// holding returns the index of the one instance with an open stream.
func holding(t *testing.T, urls []string) int {
	t.Helper()
	holder := -1
	require.Eventually(t, func() bool {
		holder = -1
		for i, u := range urls {
			resp, err := http.Get(u + "/metrics")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if m := clients.FindSubmatch(body); m != nil && string(m[1]) == "1" {
				if holder >= 0 {
					return false
				}
				holder = i
			}
		}
		return holder >= 0
	}, testkit.Wait, 20*time.Millisecond, "no single instance holds the stream")
	return holder
}

// shippedConfig writes etc/ssehub.yaml with each key of edits (which must
// occur once) replaced by its value, readable by the image's user.
func shippedConfig(t *testing.T, edits map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile("../etc/ssehub.yaml")
	require.NoError(t, err)
	text := string(raw)
	for old, repl := range edits {
		require.Equal(t, 1, strings.Count(text, old), "etc/ssehub.yaml must hold %q once", old)
		text = strings.Replace(text, old, repl, 1)
	}
	return writeConfig(t, text)
}

// writeConfig writes yaml to a file the container's non-root user can read.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssehub.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	require.NoError(t, os.Chmod(path, 0o644))
	return path
}

// request sends one bounded request and returns the response with its body.
func request(t *testing.T, method, url string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}
