// Package sse is the only place that writes the text/event-stream wire format.
//
// Field values that end up on one line (id, event) are checked here, so no caller
// can emit a frame that starts a new field or event; data is split into one
// "data:" line per line, CR, LF and CRLF alike.
package sse

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// ErrBadField says an id or event name holds CR, LF, NUL or invalid UTF-8.
var ErrBadField = errors.New("sse field must be valid UTF-8 without CR, LF or NUL")

// CheckField reports whether s may be written as a one-line field value.
func CheckField(s string) error {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r', '\n', 0:
			return ErrBadField
		}
	}
	if !utf8.ValidString(s) {
		return ErrBadField
	}
	return nil
}

// AppendEvent appends one event frame to dst: optional id and event lines, one
// data line per line of data, and the blank line that dispatches it.
func AppendEvent(dst []byte, id, event string, data []byte) ([]byte, error) {
	if err := CheckField(id); err != nil {
		return dst, err
	}
	if err := CheckField(event); err != nil {
		return dst, err
	}
	if id != "" {
		dst = appendField(dst, "id", id)
	}
	if event != "" {
		dst = appendField(dst, "event", event)
	}
	return append(appendData(dst, data), '\n'), nil
}

// appendData keeps empty data and a trailing line end as empty data lines, as
// the browser's parser would reassemble them.
func appendData(dst, data []byte) []byte {
	start := 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != '\r' && c != '\n' {
			continue
		}
		dst = appendLine(dst, data[start:i])
		if c == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		start = i + 1
	}
	return appendLine(dst, data[start:])
}

func appendLine(dst, line []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, line...)
	return append(dst, '\n')
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, '\n')
}

// AppendTagged appends frame, an event frame from AppendEvent, with one more
// data line before its data that names topic. A client reading several topics
// from one stream tells them apart by it; a topic holds no CR or LF, so the
// first line of the data is the topic and the rest is the data as published.
func AppendTagged(dst, frame []byte, topic string) []byte {
	i := skipField(frame, 0, "id: ")
	i = skipField(frame, i, "event: ")
	dst = append(dst, frame[:i]...)
	dst = append(dst, "data: "...)
	dst = append(dst, topic...)
	dst = append(dst, '\n')
	return append(dst, frame[i:]...)
}

// skipField returns the end of the line at frame[i:] if it is the field name.
func skipField(frame []byte, i int, name string) int {
	if len(frame)-i < len(name) || string(frame[i:i+len(name)]) != name {
		return i
	}
	for i < len(frame) && frame[i] != '\n' {
		i++
	}
	return min(i+1, len(frame))
}

// AppendRetry appends a "retry:" line telling the client its reconnect delay.
func AppendRetry(dst []byte, ms int64) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '\n')
}

// AppendComment appends a comment frame; CR and LF in text become spaces so a
// comment cannot start a field.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ": "...)
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, '\n', '\n')
}
