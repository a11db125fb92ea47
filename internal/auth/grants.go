package auth

import (
	"errors"
	"fmt"
	"strings"

	"ssehub/internal/topic"
)

// ErrBadPattern says a claim holds something that is neither a topic, "*",
// nor a "prefix/*" pattern.
var ErrBadPattern = errors.New("topic patterns are a topic name, \"*\", or \"<topic>/*\"")

// Patterns is a topic list from a token claim: exact names, "*" for every
// topic, and "orders/*" for every topic below orders/ (at any depth).
type Patterns []string

// ParsePatterns checks every pattern, so a typo in a token is an error
// instead of a silent grant or denial.
func ParsePatterns(list []string) (Patterns, error) {
	for _, p := range list {
		name := strings.TrimSuffix(p, "/*")
		if p == "*" {
			continue
		}
		if err := topic.Valid(name); err != nil {
			return nil, fmt.Errorf("%w: %q", ErrBadPattern, p)
		}
	}
	return Patterns(list), nil
}

// Allows reports whether t matches one of the patterns.
func (ps Patterns) Allows(t string) bool {
	for _, p := range ps {
		switch {
		case p == "*":
			return true
		case strings.HasSuffix(p, "/*"):
			if strings.HasPrefix(t, p[:len(p)-1]) {
				return true
			}
		case p == t:
			return true
		}
	}
	return false
}

// AllowsAll reports whether every topic matches; it returns the first that
// does not.
func (ps Patterns) AllowsAll(topics []string) (string, bool) {
	for _, t := range topics {
		if !ps.Allows(t) {
			return t, false
		}
	}
	return "", true
}
