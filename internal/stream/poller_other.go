//go:build !linux

package stream

import "errors"

// Taking connections over needs epoll; elsewhere every stream keeps its
// handler goroutine.
var errNoPoller = errors.New("taking streams over needs epoll (Linux)")

const (
	pollIn  = 0
	pollOut = 0
)

type poller struct{}

func newPoller() (*poller, error) { return nil, errNoPoller }

func (p *poller) add(int, uint64) error { return errNoPoller }

func (p *poller) watch(int, uint64, uint32) error { return errNoPoller }

func (p *poller) remove(int) error { return errNoPoller }

func (p *poller) wait(int, func(uint64, uint32)) error { return errNoPoller }

func closed(uint32) bool { return false }

func (p *poller) close() error { return nil }

func writeFD(int, []byte) (int, error) { return 0, errNoPoller }

func unsent(int) int { return -1 }
