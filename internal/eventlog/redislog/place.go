package redislog

import (
	"context"

	"ssehub/internal/eventid"
	"ssehub/internal/eventlog"
	"ssehub/internal/eventlog/redislog/scripts"
)

// lostMark returns the highest lost id known here or in Redis (text from
// the mark's key, empty when unset).
func (l *Log) lostMark(text string) eventid.ID {
	l.hwmMu.Lock()
	defer l.hwmMu.Unlock()
	if id, err := eventid.Parse(text); err == nil && l.lostBelow.Less(id) {
		l.lostBelow = id
	}
	return l.lostBelow
}

// placement is where a replay's id stands.
type placement struct {
	pos  eventlog.Position
	info *scripts.Stream // nil when there is no stream
	lost eventid.ID      // the lost mark
	mark string          // the lost mark as Redis holds it ("" when unset)
}

// position places after against the stream. An id above the high-water mark
// was never issued: Unknown. One below the first retained entry was
// trimmed, or lost; one above the stream's last id or inside the retained
// range but not in the stream was issued and lost with data Redis no longer
// has; one below the lost mark may be followed by lost ones: all Gone.
// Trimming does not record the newest trimmed id, so an id older than the
// first retained entry is Gone even when it is the newest trimmed one: that
// client gets a reset it did not strictly need, never a gap.
func (l *Log) position(ctx context.Context, after eventid.ID) (placement, error) {
	found, err := scripts.Place(ctx, l.rdb, l.keys, after, l.highWater())
	if err != nil {
		return placement{pos: eventlog.Unknown}, err
	}
	info := found.Stream
	pl := placement{pos: eventlog.Known, info: info, lost: l.lostMark(found.Mark), mark: found.Mark}
	if info != nil {
		l.raise(info.Last)
	}
	switch {
	case l.highWater().Less(after):
		pl.pos = eventlog.Unknown
	case info == nil, info.Last.Less(after), info.Length == 0, after.Less(info.First), !found.Held, after.Less(pl.lost):
		pl.pos = eventlog.Gone
	}
	return pl, nil
}
