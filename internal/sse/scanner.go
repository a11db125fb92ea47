package sse

import (
	"bufio"
	"bytes"
	"io"
)

// Scanner is a Reader for load tools: it reuses its buffers, so reading an
// event allocates nothing. It takes lines ending in LF or CRLF (what this
// server writes), not lone CR; use Reader where full conformance matters.
// The slices it returns are valid until the next call to Next.
type Scanner struct {
	br   *bufio.Reader
	id   []byte
	data []byte
	// Event is the event type of the last frame Next returned.
	Event []byte
}

// NewScanner returns a Scanner reading r through a buffer of size bytes.
func NewScanner(r io.Reader, size int) *Scanner {
	return &Scanner{br: bufio.NewReaderSize(r, size)}
}

// Next returns the next dispatched event's id and data, or a comment's text
// with comment set.
func (s *Scanner) Next() (id, data []byte, comment bool, err error) {
	s.id, s.data, s.Event = s.id[:0], s.data[:0], s.Event[:0]
	hasData := false
	for {
		line, err := s.line()
		if err != nil {
			return nil, nil, false, err
		}
		if len(line) == 0 {
			if !hasData {
				continue
			}
			return s.id, s.data, false, nil
		}
		if line[0] == ':' {
			return nil, bytes.TrimPrefix(line[1:], []byte(" ")), true, nil
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "id":
			s.id = append(s.id[:0], value...)
		case "event":
			s.Event = append(s.Event[:0], value...)
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			hasData = true
		}
	}
}

// line returns the next line without its end; a line longer than the buffer
// is an error (bufio.ErrBufferFull), which a load tool reports.
func (s *Scanner) line() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
