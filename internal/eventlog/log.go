// Package eventlog keeps the ordered history of events that resume replays from.
// The memory log is the single-process default; the Redis log shares it across
// instances. Both hand live events to the hub in id order.
package eventlog

import (
	"context"
	"errors"

	"ssehub/internal/eventid"
	"ssehub/internal/sse"
)

// PageSize bounds how many events one Replay page holds. It matches the
// stream writer's batch, and at Sse.MaxEventBytes (64 KiB by default) keeps
// a page within a few MiB.
const PageSize = 64

// ErrUnavailable says the log cannot take or read events right now.
var ErrUnavailable = errors.New("event log unavailable")

// ErrBehind says events after the replay's position were trimmed while it
// ran: the client must start again from its last id (and will get a reset).
var ErrBehind = errors.New("replay fell behind retained history")

// Message is what a publisher asks to append; Data is the payload text.
type Message struct {
	Topic string
	Type  string
	Data  []byte
	Key   string
}

// Event is an appended message, encoded to its wire bytes once for every client.
type Event struct {
	ID    eventid.ID
	Topic string
	Key   string
	// Ms is the append time in Unix milliseconds, for age-based trimming.
	Ms   int64
	Wire []byte
}

// NewEvent encodes m as the frame every subscriber receives.
func NewEvent(id eventid.ID, m Message, ms int64) (*Event, error) {
	var idText [48]byte
	wire, err := sse.AppendEvent(make([]byte, 0, 64+len(m.Type)+len(m.Data)), string(id.AppendText(idText[:0])), m.Type, m.Data)
	if err != nil {
		return nil, err
	}
	return &Event{ID: id, Topic: m.Topic, Key: m.Key, Ms: ms, Wire: wire}, nil
}

// Position says how a client's Last-Event-ID relates to retained history.
type Position int

const (
	// Known: every event after the id is retained.
	Known Position = iota
	// Gone: the id is well formed but older than retained history.
	Gone
	// Unknown: the id is garbage or later than anything issued.
	Unknown
)

// Log is the history the hub's subscribers resume from.
type Log interface {
	// Append stores m and returns its id. A Key already in history stores
	// nothing and returns the earlier event's id with dup set.
	Append(ctx context.Context, m Message) (id eventid.ID, dup bool, err error)
	// Replay streams the retained events after `after`, up to and including
	// `upto`, whose topic passes match, in id order. It calls start exactly
	// once, before any page, with where `after` stands; then page with at
	// most PageSize events at a time (page must not keep the slice). An
	// error returned by start or page ends the replay and is returned
	// unchanged; the log's own failures wrap ErrUnavailable, and ErrBehind
	// says history moved past the replay while it ran.
	Replay(ctx context.Context, after, upto eventid.ID, match func(topic string) bool,
		start func(Position) error, page func([]*Event) error) error
	// Run hands every appended event to deliver, in id order, until ctx ends.
	Run(ctx context.Context, deliver func(*Event)) error
}
