package eventlog

import (
	"context"
	"sort"
	"sync"
	"time"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
)

var _ Log = (*Memory)(nil)

// Memory is a bounded in-process log: a ring of the last size events, none
// older than maxAge. Its ids are "<start-ms>-<n>", so ids of an earlier
// process are recognised as older than everything retained here.
type Memory struct {
	size   int
	maxAge time.Duration
	now    func() time.Time

	mu      sync.Mutex
	ring    []*event.Event
	head    int // index of the oldest retained event
	count   int
	last    eventid.ID
	horizon eventid.ID // newest id no longer retained
	keys    map[topicKey]eventid.ID
	feed    chan *event.Event
	stopped chan struct{} // closed when Run returns
}

// topicKey scopes an idempotency key to its topic: the same key on two
// topics is two events.
type topicKey struct{ topic, key string }

// MemoryOptions configure a Memory log.
type MemoryOptions struct {
	// Size is how many events it retains.
	Size int
	// MaxAge, if set, also drops events older than it.
	MaxAge time.Duration
}

// NewMemory returns a log that starts its ids at the current time.
func NewMemory(o MemoryOptions) *Memory {
	return newMemory(o, time.Now)
}

func newMemory(o MemoryOptions, now func() time.Time) *Memory {
	start := eventid.ID{Ms: uint64(now().UnixMilli())}
	return &Memory{
		size:    o.Size,
		maxAge:  o.MaxAge,
		now:     now,
		ring:    make([]*event.Event, o.Size),
		last:    start,
		horizon: start,
		keys:    make(map[topicKey]eventid.ID),
		feed:    make(chan *event.Event, 1024),
		stopped: make(chan struct{}),
	}
}

// Append stores m and queues it for the hub. The send happens under the lock
// so events reach the hub in id order; a busy hub slows publishers down
// instead of losing events. It does not give up on ctx: an event that is in
// history must also reach live subscribers.
func (l *Memory) Append(_ context.Context, m event.Message) (eventid.ID, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()

	select {
	case <-l.stopped:
		return eventid.ID{}, false, ErrUnavailable
	default:
	}
	now := l.now()
	l.expireLocked(now)
	if m.Key != "" {
		if id, ok := l.keys[topicKey{m.Topic, m.Key}]; ok {
			return id, true, nil
		}
	}
	id := l.last.Next()
	ev, err := event.New(id, m, now.UnixMilli())
	if err != nil {
		return eventid.ID{}, false, err
	}
	if l.count == l.size {
		l.dropOldestLocked()
	}
	l.ring[(l.head+l.count)%l.size] = ev
	l.count++
	l.last = id
	if m.Key != "" {
		l.keys[topicKey{m.Topic, m.Key}] = id
	}

	select {
	case l.feed <- ev:
		return id, false, nil
	case <-l.stopped:
		return eventid.ID{}, false, ErrUnavailable
	}
}

// Issued reports whether id is at or below the last id handed out.
func (l *Memory) Issued(id eventid.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.last.Less(id)
}

// Replay copies one page at a time under the lock and hands it to page
// with the lock released, so a slow client never holds up publishers.
func (l *Memory) Replay(ctx context.Context, after, upto eventid.ID, match func(string) bool,
	start func(Position) error, page func([]*event.Event) error) error {
	pos, r := l.place(after, upto, match)
	if err := start(pos); err != nil {
		return err
	}
	if pos == Unknown {
		return nil
	}
	for {
		if len(r.buf) > 0 {
			if err := page(r.buf); err != nil {
				return err
			}
		}
		if r.done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.next(r); err != nil {
			return err
		}
	}
}

// memoryReplay is where one replay stands: the page to hand out, the last
// id looked at, and whether nothing wanted is left.
type memoryReplay struct {
	upto   eventid.ID
	match  func(string) bool
	buf    []*event.Event
	cursor eventid.ID
	done   bool
}

// place finds where after stands and, unless it is Unknown, copies the
// first page. Doing both under one lock leaves no window for eviction
// between the two.
func (l *Memory) place(after, upto eventid.ID, match func(string) bool) (Position, *memoryReplay) {
	r := &memoryReplay{upto: upto, match: match, buf: make([]*event.Event, 0, PageSize), cursor: after}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(l.now())
	pos := Known
	switch {
	case l.last.Less(after):
		return Unknown, r
	case after.Less(l.horizon):
		pos, r.cursor = Gone, l.horizon
	}
	r.buf, r.cursor, r.done = l.pageLocked(r.cursor, r.upto, r.match, r.buf)
	return pos, r
}

// next copies the page after r's cursor into r's buffer.
func (l *Memory) next(r *memoryReplay) error {
	clear(r.buf)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(l.now())
	// Ids are contiguous here: an evicted event after cursor is one the
	// client wanted.
	if r.cursor.Less(l.horizon) {
		return ErrBehind
	}
	r.buf, r.cursor, r.done = l.pageLocked(r.cursor, r.upto, r.match, r.buf[:0])
	return nil
}

// pageLocked appends to buf the matching events among the next PageSize
// retained after cursor, up to upto. It returns the last id it looked at
// and whether nothing wanted is left.
func (l *Memory) pageLocked(cursor, upto eventid.ID, match func(string) bool, buf []*event.Event) ([]*event.Event, eventid.ID, bool) {
	i := sort.Search(l.count, func(i int) bool { return cursor.Less(l.ring[(l.head+i)%l.size].ID) })
	for end := min(i+PageSize, l.count); i < end; i++ {
		ev := l.ring[(l.head+i)%l.size]
		if upto.Less(ev.ID) {
			return buf, cursor, true
		}
		if match(ev.Topic) {
			buf = append(buf, ev)
		}
		cursor = ev.ID
	}
	return buf, cursor, i == l.count || !cursor.Less(upto)
}

// Run forwards appended events to deliver until ctx ends.
func (l *Memory) Run(ctx context.Context, deliver func(*event.Event)) error {
	defer close(l.stopped)
	for {
		select {
		case ev := <-l.feed:
			deliver(ev)
		case <-ctx.Done():
			return nil
		}
	}
}

func (l *Memory) expireLocked(now time.Time) {
	if l.maxAge <= 0 {
		return
	}
	cutoff := now.Add(-l.maxAge).UnixMilli()
	for l.count > 0 && l.ring[l.head].Ms < cutoff {
		l.dropOldestLocked()
	}
}

func (l *Memory) dropOldestLocked() {
	ev := l.ring[l.head]
	l.ring[l.head] = nil
	l.head = (l.head + 1) % l.size
	l.count--
	l.horizon = ev.ID
	if ev.Key != "" {
		delete(l.keys, topicKey{ev.Topic, ev.Key})
	}
}
