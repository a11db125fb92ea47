// Package event is the unit everything else passes around: a message a
// publisher asks for, and the event it becomes, with its id and the wire
// bytes every subscriber receives, encoded once. The log stores events, the
// hub fans them out, the writers write them, the ticker makes them.
package event

import (
	"ssehub/internal/eventid"
	"ssehub/internal/sse"
)

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

// New encodes m as the frame every subscriber receives.
func New(id eventid.ID, m Message, ms int64) (*Event, error) {
	var idText [48]byte
	wire, err := sse.AppendEvent(make([]byte, 0, 64+len(m.Type)+len(m.Data)), string(id.AppendText(idText[:0])), m.Type, m.Data)
	if err != nil {
		return nil, err
	}
	return &Event{ID: id, Topic: m.Topic, Key: m.Key, Ms: ms, Wire: wire}, nil
}
