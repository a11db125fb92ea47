package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"ssehub/internal/benchreport"
	"ssehub/internal/loadconns"
)

// worker is one process's share of the connections: this process's own
// loader, or a child process driven over its stdin and stdout.
type worker interface {
	open() error
	drain(upto uint64) error
	finish(published uint64) (benchreport.Result, error)
}

type localWorker struct {
	l     *loadconns.Loader
	grace time.Duration
}

func (w *localWorker) open() error { w.l.Open(); return nil }

func (w *localWorker) drain(upto uint64) error { w.l.Drain(upto, w.grace); return nil }

func (w *localWorker) finish(published uint64) (benchreport.Result, error) {
	return w.l.Close(published), nil
}

// childWorker re-executes this binary with -child, which its main hands to
// RunChild; each step is one line to its stdin and one line back.
type childWorker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startChild(cfg loadconns.Config, grace time.Duration) (*childWorker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	spec, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-child", string(spec), "-grace", grace.String())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start child: %w", err)
	}
	return &childWorker{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

func (w *childWorker) expect(want string) (string, error) {
	line, err := w.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("child: %w", err)
	}
	rest, ok := strings.CutPrefix(line, want)
	if !ok {
		return "", fmt.Errorf("child said %q, want %q", line, want)
	}
	return rest, nil
}

func (w *childWorker) open() error {
	_, err := w.expect("ready")
	return err
}

func (w *childWorker) drain(upto uint64) error {
	if _, err := fmt.Fprintf(w.in, "drain %d\n", upto); err != nil {
		return err
	}
	_, err := w.expect("drained")
	return err
}

func (w *childWorker) finish(published uint64) (benchreport.Result, error) {
	defer func() { _ = w.cmd.Wait() }()
	if _, err := fmt.Fprintf(w.in, "close %d\n", published); err != nil {
		return benchreport.Result{}, err
	}
	rest, err := w.expect("result ")
	if err != nil {
		return benchreport.Result{}, err
	}
	var r benchreport.Result
	return r, json.Unmarshal([]byte(rest), &r)
}

// RunChild is the -child side of childWorker: spec is its share of the
// connections, and grace bounds each drain.
func RunChild(spec string, grace time.Duration) error {
	var cfg loadconns.Config
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		return fmt.Errorf("child spec: %w", err)
	}
	raiseFileLimit()
	l := loadconns.New(cfg)
	l.Open()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		verb, arg, _ := strings.Cut(in.Text(), " ")
		n, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			return fmt.Errorf("child command %q: %w", in.Text(), err)
		}
		switch verb {
		case "drain":
			l.Drain(n, grace)
			fmt.Println("drained")
		case "close":
			res, err := json.Marshal(l.Close(n))
			if err != nil {
				return err
			}
			fmt.Printf("result %s\n", res)
			return nil
		}
	}
	return in.Err()
}
