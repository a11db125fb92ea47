// Package topic validates topic names and the topic list of a subscription.
package topic

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLen is the longest topic name accepted.
const MaxLen = 128

var (
	// ErrInvalid says a topic name breaks the naming rules.
	ErrInvalid = errors.New("topic names are 1-128 characters of A-Z a-z 0-9 _ - . : / with no empty, '.' or '..' segment")
	// ErrTooMany says a subscription names more topics than allowed.
	ErrTooMany = errors.New("too many topics")
)

// Valid reports whether name is a usable topic: path-like segments of a
// small ASCII alphabet, so names are safe in logs, URLs, metrics and Redis.
func Valid(name string) error {
	if len(name) == 0 || len(name) > MaxLen {
		return ErrInvalid
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_', c == '-', c == '.', c == ':', c == '/':
		default:
			return ErrInvalid
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return ErrInvalid
		}
	}
	return nil
}

// List returns the distinct topics asked for, or defaults when none are; it
// checks the count before the names so a huge list costs little.
func List(asked, defaults []string, limit int) ([]string, error) {
	if len(asked) == 0 {
		asked = defaults
	}
	if len(asked) > limit {
		return nil, fmt.Errorf("%w: %d asked, at most %d", ErrTooMany, len(asked), limit)
	}
	out := make([]string, 0, len(asked))
	for _, t := range asked {
		if err := Valid(t); err != nil {
			return nil, err
		}
		if !contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Matcher returns a func telling whether a topic is among topics.
func Matcher(topics []string) func(string) bool {
	return func(t string) bool { return contains(topics, t) }
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
