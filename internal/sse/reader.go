package sse

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
)

// Frame is what a Reader returns: a dispatched event or a comment line.
type Frame struct {
	Comment   string
	IsComment bool
	ID        string
	HasID     bool
	Event     string
	Data      string
}

// Reader parses an event stream as the WHATWG rules say (lines end in CR,
// LF or CRLF; "data" lines join with LF; a frame without data is not
// dispatched). Tests and the load generator read the wire with it.
type Reader struct {
	br *bufio.Reader
	// Retry is the last "retry:" value seen, in milliseconds, and Retries
	// how many retry lines were seen.
	Retry   int
	Retries int
	// pendingCR is set when the previous line ended in a CR that may be
	// the first half of a CRLF.
	pendingCR bool
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 16<<10)}
}

// Next returns the next comment or dispatched event.
func (r *Reader) Next() (Frame, error) {
	var f Frame
	var data []string
	for {
		line, err := r.line()
		if err != nil {
			return Frame{}, err
		}
		if line == "" {
			if data == nil {
				f = Frame{}
				continue
			}
			f.Data = strings.Join(data, "\n")
			return f, nil
		}
		if line[0] == ':' {
			return Frame{Comment: strings.TrimPrefix(line[1:], " "), IsComment: true}, nil
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			f.ID, f.HasID = value, true
		case "event":
			f.Event = value
		case "data":
			data = append(data, value)
		case "retry":
			if n, err := strconv.Atoi(value); err == nil {
				r.Retry = n
				r.Retries++
			}
		}
	}
}

func (r *Reader) line() (string, error) {
	var buf []byte
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return "", err
		}
		if r.pendingCR {
			r.pendingCR = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\n':
			return string(buf), nil
		case '\r':
			r.pendingCR = true
			return string(buf), nil
		}
		buf = append(buf, c)
	}
}

// ParseAll returns every frame in stream.
func ParseAll(stream []byte) []Frame {
	r := NewReader(bytes.NewReader(stream))
	var out []Frame
	for {
		f, err := r.Next()
		if err != nil {
			return out
		}
		out = append(out, f)
	}
}
