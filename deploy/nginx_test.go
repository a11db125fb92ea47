// Package deploy holds the deployment files; its test runs deploy/nginx.conf
// in a real nginx in front of two real ssehub processes.
package deploy

import (
	"net"
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
	"github.com/zeromicro/go-zero/core/conf"

	"ssehub/internal/config"
	"ssehub/internal/redistest"
	"ssehub/internal/sse"
	"ssehub/internal/testkit"
	"ssehub/internal/testkit/need"
	"ssehub/internal/testkit/process"
)

var (
	upstreamServers = regexp.MustCompile(`(?m)^\s*server ssehub-[ab]:8080;\n`)
	listenLine      = regexp.MustCompile(`(?m)^(\s*)listen 8080;`)
)

// nginxConfig is deploy/nginx.conf pointed at the given upstreams, listening
// on port, with its temporary files under dir.
func nginxConfig(t *testing.T, dir string, port int, upstreams ...string) string {
	t.Helper()
	raw, err := os.ReadFile("nginx.conf")
	require.NoError(t, err)
	conf := string(raw)
	require.Len(t, upstreamServers.FindAllString(conf, -1), 2, "nginx.conf must name ssehub-a and ssehub-b")
	servers := ""
	for _, u := range upstreams {
		servers += "        server " + u + ";\n"
	}
	conf = upstreamServers.ReplaceAllString(conf, "")
	conf = strings.Replace(conf, "keepalive 32;", strings.TrimSpace(servers)+"\n        keepalive 32;", 1)
	conf = listenLine.ReplaceAllString(conf, "${1}listen 127.0.0.1:"+strconv.Itoa(port)+";")
	temp := ""
	for _, kind := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		temp += "    " + kind + "_temp_path " + filepath.Join(dir, kind) + ";\n"
	}
	return strings.Replace(conf, "http {\n", "http {\n"+temp, 1)
}

// startNginx runs nginx with conf in the foreground and stops it at cleanup.
func startNginx(t *testing.T, conf string) {
	t.Helper()
	bin := need.Tool(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	path := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", "stderr",
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	// A file, not a pipe: nginx's workers inherit it, and Wait would wait
	// for them to close a pipe.
	logPath := filepath.Join(dir, "nginx.log")
	out, err := os.Create(logPath)
	require.NoError(t, err)
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// SIGTERM: the master stops its workers before it exits.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(testkit.Wait):
			_ = cmd.Process.Kill()
			t.Errorf("nginx did not stop on SIGTERM")
		}
	})
	select {
	case <-done:
		logs, _ := os.ReadFile(logPath)
		t.Fatalf("nginx exited at start:\n%s", logs)
	default:
	}
}

func TestNginxInFrontOfTwoInstances(t *testing.T) {
	t.Parallel()
	need.Tool(t, "nginx", "/usr/sbin/nginx")
	srv := redistest.Start(t)
	var addrs []string
	var procs []*process.Process
	for _, name := range []string{"ssehub-a", "ssehub-b"} {
		p := process.Start(t, process.RedisYAML(name, srv.Addr, "TickInterval: 1h"))
		testkit.WaitReady(t, p.URL, true)
		procs = append(procs, p)
		addrs = append(addrs, p.Addr)
	}
	port := redistest.FreePort(t)
	startNginx(t, nginxConfig(t, t.TempDir(), port, addrs...))
	base := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	testkit.WaitReady(t, base, true)

	s := testkit.Open(t, base+"/sse?topic=news", nil)
	require.Equal(t, "text/event-stream", s.Resp.Header.Get("Content-Type"))
	// The preamble comes through before any event: nginx does not buffer.
	require.Equal(t, sse.Frame{Comment: "ok", IsComment: true}, s.Next(t))

	viaNginx := testkit.Publish(t, base, "news", "m", `"through nginx"`)
	require.Equal(t, sse.Frame{ID: viaNginx, HasID: true, Event: "m", Data: "through nginx"}, s.NextEvent(t))
	// Whichever instance holds the stream, events published on either reach it.
	var missed []string
	for _, p := range procs {
		id := testkit.Publish(t, p.URL, "news", "m", `"direct"`)
		require.Equal(t, id, s.NextEvent(t).ID)
		missed = append(missed, id)
	}

	// A resume through the proxy, on whichever instance, replays exactly
	// what the client missed.
	r := testkit.Open(t, base+"/sse?topic=news", http.Header{"Last-Event-ID": {viaNginx}})
	for _, id := range missed {
		require.Equal(t, id, r.NextEvent(t).ID)
	}
}

// TestComposeConfigLoads keeps deploy/ssehub.yaml a valid config in Redis mode.
func TestComposeConfigLoads(t *testing.T) {
	t.Parallel()
	var c config.Config
	require.NoError(t, conf.Load("ssehub.yaml", &c, conf.UseEnv()))
	require.Equal(t, "redis:6379", c.Redis.Addr)
	require.Equal(t, 8080, c.Port)
}
