// Package scripts is what the Redis log runs inside Redis: the stream's keys
// and entry layout, and its four atomic steps (append, place a replay, read
// a page of it, check the dataset before a read), each one Lua script that
// shares the loss rules (lua.go). Callers get typed answers, not replies.
package scripts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
)

// noAgeKeyTTL keeps idempotency keys when there is no age limit; Append
// checks that the keyed event is still retained anyway.
const noAgeKeyTTL = 24 * time.Hour

// Keys name what one log keeps in Redis.
type Keys struct {
	prefix string
	Stream string // the events
	Epoch  string // the dataset marker
	Lost   string // the lost mark (lua.go)
}

// NewKeys returns the keys under prefix.
func NewKeys(prefix string) Keys {
	return Keys{prefix: prefix, Stream: prefix + ":events", Epoch: prefix + ":epoch", Lost: prefix + ":lost"}
}

// idempotency is where an idempotency key's event id is kept, scoped to its
// topic. Topics may hold ':', so the topic's length makes the name
// unambiguous: topic "a:b" with key "c" is not topic "a" with key "b:c".
func (k Keys) idempotency(topic, key string) string {
	return fmt.Sprintf("%s:key:%d:%s:%s", k.prefix, len(topic), topic, key)
}

// AppendArgs is one append.
type AppendArgs struct {
	Message event.Message
	Size    int
	MaxAge  time.Duration // 0: no age limit
	// HighWater is the highest id the caller saw issued; the new id goes
	// above it, and if it was lost the lost mark is raised first.
	HighWater eventid.ID
}

// Append adds a.Message to the stream and returns its id, or the id of the
// retained event its idempotency key names and true.
func Append(ctx context.Context, rdb redis.Scripter, k Keys, a AppendArgs) (eventid.ID, bool, error) {
	keyTTL := a.MaxAge
	if keyTTL <= 0 {
		keyTTL = noAgeKeyTTL
	}
	m, above := a.Message, a.HighWater.Next()
	res, err := appendScript.Run(ctx, rdb, []string{k.Stream, k.idempotency(m.Topic, m.Key), k.Lost},
		m.Topic, m.Type, m.Data, m.Key, a.Size, a.MaxAge.Milliseconds(), keyTTL.Milliseconds(),
		above.String(), above.Ms, idArg(a.HighWater)).Slice()
	if err != nil {
		return eventid.ID{}, false, fmt.Errorf("%w: append to %s: %w", eventlog.ErrUnavailable, k.Stream, err)
	}
	if len(res) != 2 {
		return eventid.ID{}, false, fmt.Errorf("append to %s: unexpected reply %v", k.Stream, res)
	}
	text, _ := res[0].(string)
	id, err := eventid.Parse(text)
	if err != nil {
		return eventid.ID{}, false, fmt.Errorf("append to %s: stream id %q: %w", k.Stream, text, err)
	}
	dup, _ := res[1].(int64)
	return id, dup == 1, nil
}

// Stream is where history stands.
type Stream struct {
	Length int64
	First  eventid.ID // zero when empty
	Last   eventid.ID // the last id generated
}

// Placement is what placing a replay found.
type Placement struct {
	Stream *Stream // nil when there is no stream
	Held   bool    // the stream holds the replay's id
	Mark   string  // the lost mark as Redis holds it, "" when unset
}

// Place looks where after stands, raising the lost mark first if highWater
// was lost.
func Place(ctx context.Context, rdb redis.Scripter, k Keys, after, highWater eventid.ID) (Placement, error) {
	res, err := runIdempotent(ctx, placeScript, rdb, []string{k.Stream, k.Lost}, after.String(), idArg(highWater))
	if err != nil {
		return Placement{}, fmt.Errorf("%w: inspect %s at %s: %w", eventlog.ErrUnavailable, k.Stream, after, err)
	}
	if len(res) != 6 {
		return Placement{}, fmt.Errorf("inspect %s: unexpected reply %v", k.Stream, res)
	}
	held, _ := res[4].(int64)
	pl := Placement{Held: held == 1}
	pl.Mark, _ = res[5].(string)
	if exists, _ := res[0].(int64); exists == 0 {
		return pl, nil
	}
	s := &Stream{}
	s.Length, _ = res[1].(int64)
	first, _ := res[2].(string)
	last, _ := res[3].(string)
	if s.Last, err = eventid.Parse(last); err != nil {
		return Placement{}, fmt.Errorf("inspect %s: last id %q: %w", k.Stream, last, err)
	}
	if s.Length > 0 {
		if s.First, err = eventid.Parse(first); err != nil {
			return Placement{}, fmt.Errorf("inspect %s: first id %q: %w", k.Stream, first, err)
		}
	}
	pl.Stream = s
	return pl, nil
}

// PageArgs is one page of a replay.
type PageArgs struct {
	From, Upto eventid.ID
	HighWater  eventid.ID // the caller's, as in Place
	Mark       string     // the lost mark the replay was placed with
	// Guard says every retained entry from From on is wanted, so a first
	// retained entry past it means trimming took some.
	Guard bool
}

// Page reads up to eventlog.PageSize entries in [From, Upto]. It returns
// eventlog.ErrBehind, instead of reading on past a hole, when the replay can
// no longer be whole: HighWater was lost, the mark moved since the
// placement, or with Guard, trimming passed From.
func Page(ctx context.Context, rdb redis.Scripter, k Keys, a PageArgs) ([]redis.XMessage, error) {
	guard := "0"
	if a.Guard {
		guard = "1"
	}
	res, err := runIdempotent(ctx, pageScript, rdb, []string{k.Stream, k.Lost},
		a.From.String(), a.Upto.String(), eventlog.PageSize, idArg(a.HighWater), a.Mark, guard)
	if err != nil {
		return nil, fmt.Errorf("%w: replay %s from %s: %w", eventlog.ErrUnavailable, k.Stream, a.From, err)
	}
	if whole, _ := res[0].(int64); whole == 0 || len(res) != 2 {
		return nil, eventlog.ErrBehind
	}
	entries, _ := res[1].([]any)
	msgs := make([]redis.XMessage, 0, len(entries))
	for _, e := range entries {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			return nil, fmt.Errorf("replay %s: unexpected entry %v", k.Stream, e)
		}
		id, _ := pair[0].(string)
		kv, _ := pair[1].([]any)
		values := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			key, _ := kv[i].(string)
			values[key] = kv[i+1]
		}
		msgs = append(msgs, redis.XMessage{ID: id, Values: values})
	}
	return msgs, nil
}

// CheckArgs is what the reader knew at its last check; all empty before
// the first.
type CheckArgs struct {
	Epoch     string
	Seen      eventid.ID // the last entry delivered
	Mark      string
	HighWater eventid.ID // zero: not to be checked
}

// Checked is the dataset as the check found it.
type Checked struct {
	// Unchanged: the dataset is the one the reader knew (same epoch, its
	// last delivery still there, its high-water mark not lost) and nobody
	// raised the mark since. Otherwise, and always on the first check, the
	// other fields say what it is now.
	Unchanged bool
	Epoch     string
	Mark      string
	Last      string // the stream's last id
}

// Check is the reader's look before each batch; the first one, with empty
// args, only records (and sets an epoch if there is none).
func Check(ctx context.Context, rdb redis.Scripter, k Keys, a CheckArgs) (Checked, error) {
	res, err := runIdempotent(ctx, checkScript, rdb, []string{k.Stream, k.Epoch, k.Lost},
		a.Epoch, idArg(a.Seen), a.Mark, idArg(a.HighWater), rand.Text())
	if err != nil {
		return Checked{}, fmt.Errorf("check %s at %s: %w", k.Stream, a.Seen, err)
	}
	if intact, _ := res[0].(int64); intact == 1 && len(res) == 1 {
		return Checked{Unchanged: true}, nil
	}
	if len(res) != 4 {
		return Checked{}, fmt.Errorf("check %s: unexpected reply %v", k.Stream, res)
	}
	var c Checked
	c.Epoch, _ = res[1].(string)
	c.Mark, _ = res[2].(string)
	c.Last, _ = res[3].(string)
	return c, nil
}

// Entry decodes one stream entry as Append wrote it.
func Entry(msg redis.XMessage) (*event.Event, error) {
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

// runIdempotent runs a step that may run twice (it reads, or raises a mark
// to a maximum, or sets what is unset), once more when its connection
// turned out to be dead: after a Redis restart the pool finds such a
// connection only by using it, and without this a client resuming then
// would be reset though Redis has its history. Append is not run this way:
// its answer, lost with the connection, may follow an append that happened
// (the publisher retries with its idempotency key instead).
func runIdempotent(ctx context.Context, s *redis.Script, rdb redis.Scripter, keys []string, args ...any) ([]any, error) {
	res, err := s.Run(ctx, rdb, keys, args...).Slice()
	if err != nil && deadConn(err) && ctx.Err() == nil {
		res, err = s.Run(ctx, rdb, keys, args...).Slice()
	}
	return res, err
}

// deadConn reports whether err says the connection ended under the
// command, rather than Redis refusing it or not answering in time.
func deadConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// idArg is an id as a script argument: "" for none.
func idArg(id eventid.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}
