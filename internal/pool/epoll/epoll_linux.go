// Package epoll is the few Linux system calls the pool writes taken-over
// connections with: one epoll set, non-blocking writes to a descriptor, and
// the socket's unacknowledged bytes.
package epoll

import (
	"errors"
	"syscall"
	"unsafe"
)

// In is what every taken-over connection is watched for: the peer
// closing (RDHUP); HUP and ERR are always reported. Out adds room to
// write, once: the writer re-arms it, so the poller never touches a
// descriptor the writer may have closed.
const (
	In  = syscall.EPOLLRDHUP
	Out = syscall.EPOLLRDHUP | syscall.EPOLLOUT | syscall.EPOLLONESHOT
)

// Poller is one epoll set over many connections, so that noticing a client
// leave needs no goroutine per connection. Events carry the
// connection's id, not its descriptor, so a stale event for a reused
// descriptor finds nothing.
type Poller struct {
	fd     int
	events []syscall.EpollEvent
}

// New returns an empty epoll set.
func New() (*Poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &Poller{fd: fd, events: make([]syscall.EpollEvent, 256)}, nil
}

// Add watches fd, under id, for In.
func (p *Poller) Add(fd int, id uint64) error {
	return p.ctl(syscall.EPOLL_CTL_ADD, fd, id, In)
}

// Watch sets what fd is watched for: In, or Out while a write waits.
func (p *Poller) Watch(fd int, id uint64, events uint32) error {
	return p.ctl(syscall.EPOLL_CTL_MOD, fd, id, events)
}

// Remove stops watching fd.
func (p *Poller) Remove(fd int) error {
	return syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_DEL, fd, &syscall.EpollEvent{})
}

func (p *Poller) ctl(op, fd int, id uint64, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	return syscall.EpollCtl(p.fd, op, fd, &ev)
}

// Wait calls f for every ready connection, waiting at most ms milliseconds.
func (p *Poller) Wait(ms int, f func(id uint64, events uint32)) error {
	n, err := syscall.EpollWait(p.fd, p.events, ms)
	if errors.Is(err, syscall.EINTR) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, ev := range p.events[:n] {
		f(uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32, ev.Events)
	}
	return nil
}

// Closed reports whether events say the peer is gone.
func Closed(events uint32) bool {
	return events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
}

// Close closes the set.
func (p *Poller) Close() error {
	return syscall.Close(p.fd)
}

// Unsent returns how many bytes fd's socket holds that the peer has not
// acknowledged (SIOCOUTQ), or -1: the count moves only when the client
// reads or more is written.
func Unsent(fd int) int {
	var n int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return -1
	}
	return int(n)
}

// Write writes without blocking; a full socket buffer is a short write.
func Write(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Write(fd, b)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return 0, nil
		}
		return max(n, 0), err
	}
}
