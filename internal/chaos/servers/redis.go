package servers

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the run's real redis-server: AOF on (fsync every second)
// so a SIGKILL loses at most the last second, and a snapshot file that a
// restore fault brings back, losing everything after it.
type Redis struct {
	bin  string
	port int
	dir  string
	proc *process
	cli  *redis.Client
}

// NewRedis is redis-server bin on port with its files in dir; nothing runs
// until Start.
func NewRedis(bin string, port int, dir string) *Redis {
	return &Redis{bin: bin, port: port, dir: dir,
		cli: redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1, DialTimeout: time.Second})}
}

// Addr is where it serves.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Port is its loopback port.
func (r *Redis) Port() int { return r.port }

// Exited reports whether its current process has exited.
func (r *Redis) Exited() bool { return r.proc.exited() }

// FlushAll empties it, as a fault.
func (r *Redis) FlushAll(ctx context.Context) error { return r.cli.FlushAll(ctx).Err() }

// Close closes the run's client of it.
func (r *Redis) Close() error { return r.cli.Close() }

// Start runs redis-server on its port and directory, with the AOF or, for
// a snapshot restore, without it (it then loads dump.rdb), and waits until
// it answers PING.
func (r *Redis) Start(ctx context.Context, aof bool) error {
	appendonly := "no"
	if aof {
		appendonly = "yes"
	}
	p, err := startProcess("redis-server", r.dir, r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--dbfilename", "dump.rdb", "--save", "", "--appendonly", appendonly,
		"--appendfsync", "everysec")
	if err != nil {
		return err
	}
	r.proc = p
	deadline := time.Now().Add(StartWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.exited() {
			return fmt.Errorf("redis-server exited at start:\n%s", p.output())
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := r.cli.Ping(pctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()
	return fmt.Errorf("redis-server not ready within %v:\n%s", StartWait, p.output())
}

// Kill ends redis-server at once: what the AOF has not fsynced is lost.
func (r *Redis) Kill() {
	if r.proc != nil {
		r.proc.kill()
	}
}

// Snapshot writes dump.rdb now and keeps a copy for restore.
func (r *Redis) Snapshot(ctx context.Context) error {
	if err := r.cli.Save(ctx).Err(); err != nil {
		return fmt.Errorf("SAVE: %w", err)
	}
	return copyFile(filepath.Join(r.dir, "dump.rdb"), filepath.Join(r.dir, "snapshot.rdb"))
}

// Restore kills redis-server and starts it from the snapshot: the AOF is
// removed so the snapshot is what loads, then the AOF is turned back on
// (which rewrites it from the restored data).
func (r *Redis) Restore(ctx context.Context, down time.Duration) error {
	r.Kill()
	if err := os.RemoveAll(filepath.Join(r.dir, "appendonlydir")); err != nil {
		return fmt.Errorf("remove AOF: %w", err)
	}
	if err := copyFile(filepath.Join(r.dir, "snapshot.rdb"), filepath.Join(r.dir, "dump.rdb")); err != nil {
		return err
	}
	time.Sleep(down)
	if err := r.Start(ctx, false); err != nil {
		return err
	}
	return r.cli.ConfigSet(ctx, "appendonly", "yes").Err()
}

// Shutdown stops redis-server cleanly (AOF fsynced, nothing lost).
func (r *Redis) Shutdown(ctx context.Context) error {
	err := r.cli.ShutdownSave(ctx).Err()
	if r.proc != nil {
		if _, werr := r.proc.wait(StartWait); werr != nil {
			r.proc.kill()
			return werr
		}
	}
	if err != nil && err != redis.Nil && !isClosedErr(err) {
		return fmt.Errorf("SHUTDOWN SAVE: %w", err)
	}
	return nil
}

func isClosedErr(err error) bool {
	return err == io.EOF || err.Error() == "EOF"
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		return fmt.Errorf("copy to %s: %w", to, err)
	}
	return nil
}

// FindRedis returns the redis-server binary, or an error saying it is missing.
func FindRedis() (string, error) {
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server is not installed: %w", err)
	}
	return path, nil
}
