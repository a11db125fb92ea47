// Package eventlog keeps the ordered history of events that resume replays from.
// The memory log is the single-process default; the Redis log (package
// redislog) shares it across instances. Both hand live events to the hub in
// id order.
package eventlog

import (
	"context"
	"errors"

	"ssehub/internal/event"
	"ssehub/internal/eventid"
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

// Position says how a client's Last-Event-ID relates to retained history.
type Position int

const (
	// Known: every event after the id is retained.
	Known Position = iota
	// Gone: the id is well formed but events after it are missing: it is
	// older than retained history, or the log lost events after it.
	Gone
	// Unknown: the id is garbage or later than anything issued.
	Unknown
)

// Log is the history the hub's subscribers resume from.
type Log interface {
	// Append stores m and returns its id. A Key already in history stores
	// nothing and returns the earlier event's id with dup set.
	Append(ctx context.Context, m event.Message) (id eventid.ID, dup bool, err error)
	// Replay streams the retained events after `after`, up to and including
	// `upto`, whose topic passes match, in id order. It calls start exactly
	// once, before any page, with where `after` stands; then page with at
	// most PageSize events at a time (page must not keep the slice). After
	// a Gone, what follows is whole: it starts past the last hole the log
	// knows of (older history, or events the log lost). An
	// error returned by start or page ends the replay and is returned
	// unchanged; the log's own failures wrap ErrUnavailable, and ErrBehind
	// says history moved past the replay while it ran.
	Replay(ctx context.Context, after, upto eventid.ID, match func(topic string) bool,
		start func(Position) error, page func([]*event.Event) error) error
	// Issued reports whether id can have been issued by now (this process
	// saw it, or, with a shared log, it is not later than the clock), so a
	// client holding it needs nothing at or below it.
	Issued(id eventid.ID) bool
	// Run hands every appended event to deliver, in id order, until ctx ends.
	Run(ctx context.Context, deliver func(*event.Event)) error
}
