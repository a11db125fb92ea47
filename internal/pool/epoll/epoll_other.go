//go:build !linux

package epoll

import "errors"

// Elsewhere than Linux New fails, and every stream keeps its handler
// goroutine.
var errNoPoller = errors.New("taking streams over needs epoll (Linux)")

const (
	In  = 0
	Out = 0
)

type Poller struct{}

func New() (*Poller, error) { return nil, errNoPoller }

func (p *Poller) Add(int, uint64) error { return errNoPoller }

func (p *Poller) Watch(int, uint64, uint32) error { return errNoPoller }

func (p *Poller) Remove(int) error { return errNoPoller }

func (p *Poller) Wait(int, func(uint64, uint32)) error { return errNoPoller }

func Closed(uint32) bool { return false }

func (p *Poller) Close() error { return nil }

func Write(int, []byte) (int, error) { return 0, errNoPoller }

func Unsent(int) int { return -1 }
