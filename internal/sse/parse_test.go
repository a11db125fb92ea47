package sse

import (
	"bufio"
	"bytes"
	"strings"
)

// parsed is one dispatched event as a conforming EventSource parser sees it.
type parsed struct {
	ID, Event, Data string
}

// parse follows the WHATWG event-stream interpretation rules.
func parse(stream []byte) []parsed {
	var out []parsed
	var cur parsed
	var data []string
	hasData := false
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	sc.Split(scanLines)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if hasData {
				cur.Data = strings.Join(data, "\n")
				out = append(out, cur)
			}
			cur, data, hasData = parsed{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			cur.ID = value
		case "event":
			cur.Event = value
		case "data":
			data = append(data, value)
			hasData = true
		}
	}
	return out
}

// scanLines splits on CRLF, CR or LF, as the event-stream grammar does.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		switch c {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
