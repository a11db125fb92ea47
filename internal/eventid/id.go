// Package eventid defines the ordered event ids shared by the memory and Redis logs.
//
// An id is "<ms>-<seq>": the memory log uses the process start time as ms, so ids
// from an earlier process sort before every id of the current one; Redis stream ids
// have the same shape, so both logs compare and parse ids alike.
package eventid

import (
	"errors"
	"strconv"
)

// maxLen bounds the text form: two 20-digit numbers and a dash.
const maxLen = 41

// ErrMalformed says a string is not of the form "<ms>-<seq>".
var ErrMalformed = errors.New("event id is not of the form <ms>-<seq>")

// ID is an event position; the zero ID sorts before every issued id.
type ID struct {
	Ms  uint64
	Seq uint64
}

// Parse reads "<ms>-<seq>" with decimal digits only, so no id carries CR, LF or NUL.
func Parse(s string) (ID, error) {
	if len(s) == 0 || len(s) > maxLen {
		return ID{}, ErrMalformed
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			continue
		}
		ms, err1 := parseDigits(s[:i])
		seq, err2 := parseDigits(s[i+1:])
		if err1 != nil || err2 != nil {
			return ID{}, ErrMalformed
		}
		return ID{Ms: ms, Seq: seq}, nil
	}
	return ID{}, ErrMalformed
}

func parseDigits(s string) (uint64, error) {
	if len(s) == 0 {
		return 0, ErrMalformed
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrMalformed
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool {
	return id == ID{}
}

// Less reports whether id comes before o.
func (id ID) Less(o ID) bool {
	return id.Ms < o.Ms || (id.Ms == o.Ms && id.Seq < o.Seq)
}

// Next returns the smallest id after id, as XRANGE's exclusive start needs.
func (id ID) Next() ID {
	if id.Seq == ^uint64(0) {
		return ID{Ms: id.Ms + 1}
	}
	return ID{Ms: id.Ms, Seq: id.Seq + 1}
}

// AppendText appends the text form of id to b.
func (id ID) AppendText(b []byte) []byte {
	b = strconv.AppendUint(b, id.Ms, 10)
	b = append(b, '-')
	return strconv.AppendUint(b, id.Seq, 10)
}

// String returns "<ms>-<seq>".
func (id ID) String() string {
	return string(id.AppendText(make([]byte, 0, maxLen)))
}
