package pool

import (
	"context"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"ssehub/internal/pool/epoll"
)

// pollEvery bounds how long the poller sleeps, and so how late a stalled
// write is noticed and how long Run takes to return once its context ends.
const pollEvery = 250 * time.Millisecond

// poll turns epoll events into work for the writers, and marks writes that
// waited longer than the write timeout, until ctx ends.
func (p *Pool) poll(ctx context.Context) {
	lastSweep := time.Now()
	for ctx.Err() == nil {
		err := p.poller.Wait(int(pollEvery/time.Millisecond), func(id uint64, events uint32) {
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c == nil {
				return
			}
			if epoll.Closed(events) {
				c.gone.Store(true)
			}
			p.kick(c)
		})
		if err != nil {
			logx.Errorw("epoll wait", logx.Field("error", err.Error()))
			return
		}
		if now := time.Now(); now.Sub(lastSweep) >= pollEvery {
			lastSweep = now
			p.sweep(now)
		}
	}
}

// sweep marks streams whose write has waited since before stallLimit, or
// whose token expired before now.
func (p *Pool) sweep(now time.Time) {
	stallLimit := now.Add(-p.opts.WriteTimeout).UnixNano()
	checkStalls := p.opts.WriteTimeout > 0 && p.waiting.Load() > 0
	var marked []*Conn
	p.mu.Lock()
	if !checkStalls && p.expiring == 0 {
		p.mu.Unlock()
		return
	}
	for _, c := range p.conns {
		// c stays open while the pool's mutex is held, so its descriptor
		// is still c's.
		switch {
		case checkStalls && c.out.Stalled(c.fd, now.UnixNano(), stallLimit):
			c.stalled.Store(true)
		case c.expires != 0 && c.expires <= now.UnixNano() && !c.expired.Load():
			c.expired.Store(true)
		default:
			continue
		}
		marked = append(marked, c)
	}
	p.mu.Unlock()
	for _, c := range marked {
		p.kick(c)
	}
}
