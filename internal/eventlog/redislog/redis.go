// Package redislog is the event log of scaled-out instances: one Redis
// Stream that every instance appends to and reads back, with the detection
// of events Redis lost (loss.go). It implements eventlog.Log.
package redislog

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/sse"
)

var _ eventlog.Log = (*Log)(nil)

const (
	// noAgeKeyTTL keeps idempotency keys when Replay.MaxAge is 0 (no age
	// limit); Append checks that the keyed event is still retained anyway.
	noAgeKeyTTL = 24 * time.Hour
)

// appendScript appends one event and records its idempotency key in one
// atomic step. A key whose event is still in the stream returns that event's
// id and appends nothing; a key whose event was trimmed is free again, as in
// the memory log. Trimming is approximate (~): Redis drops whole radix-tree
// nodes, so history holds at least Size events and at most a node more.
//
// The id is above the caller's high-water mark (ARGV[8], whose ms is ARGV[9])
// as well as the stream's last id: a Redis restored from an older snapshot
// has a lower last id, and its own "*" would hand out again ids that clients
// already hold whenever those ran ahead of its clock. With the mark at or
// past now, the explicit id is used; XADD refuses it only when the stream's
// last id is higher still, and "*" is then above both.
var appendScript = redis.NewScript(lossLua + `
-- The caller's own mark (ARGV[10]) lost: record it before anything new goes
-- in, so no resume slips past the hole.
if lostAt(KEYS[1], ARGV[10]) then raiseLost(KEYS[3], ARGV[10]) end
local key = ARGV[4]
if key ~= '' then
  local prev = redis.call('GET', KEYS[2])
  if prev and #redis.call('XRANGE', KEYS[1], prev, prev) > 0 then
    return {prev, 1}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id
if tonumber(ARGV[9]) >= now then
  id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], ARGV[8],
    'topic', ARGV[1], 'event', ARGV[2], 'data', ARGV[3], 'key', key)
end
if type(id) ~= 'string' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*',
    'topic', ARGV[1], 'event', ARGV[2], 'data', ARGV[3], 'key', key)
end
local age = tonumber(ARGV[6])
if age > 0 then
  local ms = tonumber(string.match(id, '^(%d+)-'))
  redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', ms - age))
end
if key ~= '' then
  redis.call('SET', KEYS[2], id, 'PX', ARGV[7])
end
return {id, 0}
`)

// Options configure a Redis log.
type Options struct {
	// Prefix namespaces the keys: <Prefix>:events is the stream.
	Prefix string
	Size   int
	MaxAge time.Duration
	// OnUp is told when Redis becomes reachable or unreachable.
	OnUp func(up bool)
	// Replays bounds how many replay reads (XRANGE of one page) run at
	// once; 0 means 2×GOMAXPROCS. A replay holds a slot only while it reads
	// a page, not while the client is written, so a stalled client cannot
	// starve the others.
	Replays int
	// OnLost is told when the reader finds that Redis lost events (a
	// restart without persistence, an older snapshot, FLUSHALL) or trimmed
	// some before the reader read them, so clients can be told instead of
	// seeing a silent gap.
	OnLost func()
}

// Log is the shared log of scaled-out instances: one Redis Stream that
// every instance appends to and reads back, so ids are the stream's ids and
// the same on every instance.
type Log struct {
	rdb    redis.UniversalClient
	opts   Options
	stream string
	epoch  string
	// lostKey holds lostBelow for every instance (see lostBelow).
	lostKey string

	// start splits the stream: entries after it come live through Run,
	// entries up to it are history only. It is the millisecond before the
	// log was made, so an event published once a client subscribed reaches
	// it even if the reader could not reach Redis yet at that time.
	start eventid.ID

	replays chan struct{} // a semaphore of Replays slots

	// hwm is the highest id this process saw issued (appended, delivered
	// or reported by the stream). It outlives a Redis that lost data, so
	// new ids go above the lost ones and a client holding a lost id is
	// told its history is gone rather than that its id is unknown.
	hwmMu sync.Mutex
	hwm   eventid.ID
	// lostBelow: Redis lost events at or below this id (it restored an
	// older dataset, or lost it all), so a client resuming from an earlier
	// id may miss some of them even when its own id is still in the
	// stream. Guarded by hwmMu; also kept in Redis under lostKey.
	lostBelow eventid.ID

	up       atomic.Bool
	upMu     sync.Mutex // orders OnUp calls
	reported bool       // OnUp was called once; guarded by upMu
}

// New returns a log on rdb; the caller owns rdb and closes it.
func New(rdb redis.UniversalClient, opts Options) *Log {
	if opts.Replays <= 0 {
		opts.Replays = 2 * runtime.GOMAXPROCS(0)
	}
	return &Log{
		replays: make(chan struct{}, opts.Replays),
		rdb:     rdb,
		opts:    opts,
		stream:  opts.Prefix + ":events",
		epoch:   opts.Prefix + ":epoch",
		lostKey: opts.Prefix + ":lost",
		start:   eventid.ID{Ms: uint64(time.Now().UnixMilli() - 1)},
	}
}

// Up reports whether the reader reached Redis on its last try.
func (l *Log) Up() bool {
	return l.up.Load()
}

// Append adds m to the stream; the reader of every instance delivers it.
func (l *Log) Append(ctx context.Context, m event.Message) (eventid.ID, bool, error) {
	// Reject what the reader could not encode before it reaches the stream.
	if err := sse.CheckField(m.Type); err != nil {
		return eventid.ID{}, false, err
	}
	keyTTL := l.opts.MaxAge
	if keyTTL <= 0 {
		keyTTL = noAgeKeyTTL
	}
	hw := l.highWater()
	mark := ""
	if !hw.IsZero() {
		mark = hw.String()
	}
	above := hw.Next()
	res, err := appendScript.Run(ctx, l.rdb, []string{l.stream, l.keyName(m.Topic, m.Key), l.lostKey},
		m.Topic, m.Type, m.Data, m.Key, l.opts.Size, l.opts.MaxAge.Milliseconds(), keyTTL.Milliseconds(),
		above.String(), above.Ms, mark).Slice()
	if err != nil {
		return eventid.ID{}, false, fmt.Errorf("%w: append to %s: %w", eventlog.ErrUnavailable, l.stream, err)
	}
	if len(res) != 2 {
		return eventid.ID{}, false, fmt.Errorf("append to %s: unexpected reply %v", l.stream, res)
	}
	text, _ := res[0].(string)
	id, err := eventid.Parse(text)
	if err != nil {
		return eventid.ID{}, false, fmt.Errorf("append to %s: stream id %q: %w", l.stream, text, err)
	}
	dup, _ := res[1].(int64)
	l.raise(id)
	return id, dup == 1, nil
}

// issuedSkew is how far the clock of Redis, which makes the ids, may run
// ahead of this process's clock.
const issuedSkew = time.Second

// Issued reports whether id is at or below the high-water mark, or not
// later than the clock: another instance may have issued it before this
// one's reader delivered it.
func (l *Log) Issued(id eventid.ID) bool {
	return !l.highWater().Less(id) || id.Ms <= uint64(time.Now().Add(issuedSkew).UnixMilli())
}

// raise lifts the high-water mark to id.
func (l *Log) raise(id eventid.ID) {
	l.hwmMu.Lock()
	if l.hwm.Less(id) {
		l.hwm = id
	}
	l.hwmMu.Unlock()
}

func (l *Log) highWater() eventid.ID {
	l.hwmMu.Lock()
	defer l.hwmMu.Unlock()
	return l.hwm
}

// keyName is where an idempotency key's event id is kept, scoped to its
// topic. Topics may hold ':', so the topic's length makes the name
// unambiguous: topic "a:b" with key "c" is not topic "a" with key "b:c".
func (l *Log) keyName(topic, key string) string {
	return fmt.Sprintf("%s:key:%d:%s:%s", l.opts.Prefix, len(topic), topic, key)
}

// Replay reads the matching entries in (after, upto], PageSize at a time,
// and hands each page to page before reading the next. upto is raised to
// start: entries up to it never come live on this instance. A client id
// later than upto but within the stream was issued by another instance; it
// is Known, and the stream writer skips live events up to it.
func (l *Log) Replay(ctx context.Context, after, upto eventid.ID, match func(string) bool,
	start func(eventlog.Position) error, page func([]*event.Event) error) error {
	if upto.Less(l.start) {
		upto = l.start
	}
	pl, err := l.place(ctx, after)
	if err != nil {
		return err
	}
	// from is the first id the client wants (see replayRange for guard).
	// A client whose id was lost gets what the stream holds after it.
	from, guard := after.Next(), true
	switch {
	case pl.pos == eventlog.Unknown:
		return start(eventlog.Unknown)
	case pl.info == nil || pl.info.length == 0:
		// Nothing was retained: whatever the stream holds now is newer.
		guard = false
	case from.Less(pl.info.first):
		from = pl.info.first
	}
	if err := start(pl.pos); err != nil {
		return err
	}
	if pl.pos == eventlog.Gone && from.Less(pl.lost) {
		// Below the mark there may be several holes (one per loss); what
		// follows the reset must be whole, so it starts at the mark.
		from = pl.lost
	}
	return l.replayRange(ctx, from, upto, guard, pl.mark, match, page)
}

// replayRange pages the matching entries in [from, upto]. guard says every
// retained entry from `from` on is wanted, so a first retained entry past it
// means trimming took some.
func (l *Log) replayRange(ctx context.Context, from, upto eventid.ID, guard bool, mark string,
	match func(string) bool, page func([]*event.Event) error) error {
	events := make([]*event.Event, 0, eventlog.PageSize)
	for !upto.Less(from) {
		msgs, err := l.replayPage(ctx, from, upto, mark, guard)
		if err != nil {
			return err
		}
		clear(events)
		events = events[:0]
		for _, msg := range msgs {
			ev, err := entryEvent(msg)
			if err != nil {
				return err
			}
			if match(ev.Topic) {
				events = append(events, ev)
			}
			from = ev.ID.Next()
		}
		if len(events) > 0 {
			if err := page(events); err != nil {
				return err
			}
		}
		if len(msgs) < eventlog.PageSize {
			return nil
		}
		guard = true
	}
	return nil
}

// place takes a replay slot to find where after stands.
func (l *Log) place(ctx context.Context, after eventid.ID) (placement, error) {
	if err := l.acquire(ctx); err != nil {
		return placement{pos: eventlog.Unknown}, err
	}
	defer l.release()
	return l.position(ctx, after)
}

// replayPage reads up to PageSize entries in [from, upto] with pageScript,
// so a replay that Redis lost or trimmed entries under ends with ErrBehind
// instead of reading on past the hole; mark is the lost mark the replay was
// placed with, guard as in replayRange.
func (l *Log) replayPage(ctx context.Context, from, upto eventid.ID, mark string, guard bool) ([]redis.XMessage, error) {
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	defer l.release()
	g := "0"
	if guard {
		g = "1"
	}
	res, err := pageScript.Run(ctx, l.rdb, []string{l.stream, l.lostKey},
		from.String(), upto.String(), eventlog.PageSize, idArg(l.highWater()), mark, g).Slice()
	if err != nil {
		return nil, fmt.Errorf("%w: replay %s from %s: %w", eventlog.ErrUnavailable, l.stream, from, err)
	}
	if whole, _ := res[0].(int64); whole == 0 || len(res) != 2 {
		return nil, eventlog.ErrBehind
	}
	entries, _ := res[1].([]any)
	msgs := make([]redis.XMessage, 0, len(entries))
	for _, e := range entries {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			return nil, fmt.Errorf("replay %s: unexpected entry %v", l.stream, e)
		}
		id, _ := pair[0].(string)
		kv, _ := pair[1].([]any)
		values := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			values[k] = kv[i+1]
		}
		msgs = append(msgs, redis.XMessage{ID: id, Values: values})
	}
	return msgs, nil
}

// acquire waits for a replay slot or for ctx to end.
func (l *Log) acquire(ctx context.Context) error {
	select {
	case l.replays <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("replay %s: waiting for a slot: %w", l.stream, ctx.Err())
	}
}

func (l *Log) release() {
	<-l.replays
}

// entryEvent builds the event of one stream entry.
func entryEvent(msg redis.XMessage) (*event.Event, error) {
	id, err := eventid.Parse(msg.ID)
	if err != nil {
		return nil, fmt.Errorf("stream entry id %q: %w", msg.ID, err)
	}
	m := event.Message{
		Topic: field(msg.Values, "topic"),
		Type:  field(msg.Values, "event"),
		Data:  []byte(field(msg.Values, "data")),
		Key:   field(msg.Values, "key"),
	}
	ev, err := event.New(id, m, int64(id.Ms))
	if err != nil {
		return nil, fmt.Errorf("stream entry %s: %w", msg.ID, err)
	}
	return ev, nil
}

func field(values map[string]any, name string) string {
	s, _ := values[name].(string)
	return s
}

// setUp records reachability and tells OnUp about changes only.
func (l *Log) setUp(up bool) {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	if l.reported && l.up.Load() == up {
		return
	}
	l.reported = true
	l.up.Store(up)
	if l.opts.OnUp != nil {
		l.opts.OnUp(up)
	}
}
