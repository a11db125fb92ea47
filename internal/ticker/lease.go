package ticker

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zeromicro/go-zero/core/logx"
)

// standbyPolls is how many times per interval an instance without the lease
// tries to take it: the lease lives 1.25 intervals, so a standby takes over
// at most 1.25+1/8 intervals after the holder's last tick. A holder late by
// more than a quarter interval may lose the lease early; seq stays unique.
const standbyPolls = 8

// Lease decides which of several instances ticks.
type Lease interface {
	// Next renews or takes the lease and, if this instance holds it,
	// returns the next tick number.
	Next(ctx context.Context) (seq uint64, held bool, err error)
}

// leaseScript renews the lease if this instance holds it, takes it if nobody
// does, and then counts the tick; all in one step, so two instances never
// both count a tick and seq never repeats. It answers {held, seq}; without
// the lease, seq is the counter as it stands. The counter never goes below
// ARGV[3], the highest seq the caller saw: a Redis restored from an older
// snapshot, or flushed, has an older counter.
var leaseScript = redis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif holder then
  return {0, tonumber(redis.call('GET', KEYS[2]) or '0') or 0}
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local seq = redis.call('INCR', KEYS[2])
if seq <= tonumber(ARGV[3]) then
  seq = tonumber(ARGV[3]) + 1
  redis.call('SET', KEYS[2], seq)
end
return {1, seq}
`)

// RedisLease is a lease key in Redis with the tick counter beside it.
type RedisLease struct {
	rdb      redis.UniversalClient
	keys     []string
	instance string
	ttl      time.Duration
	// seen is the highest seq this instance counted or saw, so seq never
	// goes back when Redis loses the counter. Next runs on one goroutine.
	seen uint64
}

// LeaseOptions configure a RedisLease.
type LeaseOptions struct {
	// Prefix is the Redis key prefix the lease and counter live under.
	Prefix string
	// Every is the tick interval; the lease lives 1.25 of it.
	Every time.Duration
}

// NewRedisLease returns the lease kept in rdb.
func NewRedisLease(rdb redis.UniversalClient, o LeaseOptions) *RedisLease {
	return &RedisLease{
		rdb:      rdb,
		keys:     []string{o.Prefix + ":tick:lease", o.Prefix + ":tick:seq"},
		instance: rand.Text(),
		ttl:      o.Every + o.Every/4,
	}
}

// Next renews or takes the lease and counts a tick while held.
func (l *RedisLease) Next(ctx context.Context) (uint64, bool, error) {
	res, err := leaseScript.Run(ctx, l.rdb, l.keys, l.instance, l.ttl.Milliseconds(), l.seen).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("tick lease %s: %w", l.keys[0], err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("tick lease %s: unexpected reply %v", l.keys[0], res)
	}
	l.seen = max(l.seen, uint64(res[1]))
	if res[0] != 1 {
		return 0, false, nil
	}
	return uint64(res[1]), true, nil
}

// runShared ticks every interval while this instance holds lease; without
// it, it tries to take the lease standbyPolls times per interval and ticks
// at once when it does.
func runShared(ctx context.Context, every time.Duration, lease Lease, publish Publisher) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	poll := time.NewTicker(max(every/standbyPolls, time.Millisecond))
	defer poll.Stop()
	s := shared{lease: lease, publish: publish}
	for {
		select {
		case now := <-tick.C:
			if s.holding {
				s.turn(ctx, now)
			}
		case now := <-poll.C:
			if !s.holding && s.turn(ctx, now) {
				tick.Reset(every)
			}
		case <-ctx.Done():
			return
		}
	}
}

type shared struct {
	lease   Lease
	publish Publisher
	holding bool
	failing bool // the last try failed; errors are logged once per outage
}

// turn tries one tick and reports whether this instance holds the lease.
func (s *shared) turn(ctx context.Context, now time.Time) bool {
	seq, held, err := s.lease.Next(ctx)
	if err != nil {
		if !s.failing && ctx.Err() == nil {
			logx.WithContext(ctx).Errorw("tick lease unavailable", logx.Field("error", err.Error()))
		}
		s.failing, s.holding = true, false
		return false
	}
	if held != s.holding {
		logx.WithContext(ctx).Infow("tick lease", logx.Field("holding", held), logx.Field("seq", seq))
	}
	s.failing, s.holding = false, held
	if held {
		if err := s.publish(ctx, Message(now, seq)); err != nil {
			logx.WithContext(ctx).Errorw("tick not published", logx.Field("seq", seq), logx.Field("error", err.Error()))
		}
	}
	return held
}
