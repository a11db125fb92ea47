package metrics

import "sync"

// OtherTopic is the topic label of every topic past the bound. Parentheses
// are not allowed in topic names, so no real topic can share it.
const OtherTopic = "(other)"

// TopicLabels bounds the topic label of ssehub_events_published_total:
// the configured topics and the first max other topics published get their
// own value, every later one is counted as OtherTopic. Publishers, even with
// a token for a whole subtree, cannot grow the series without bound.
type TopicLabels struct {
	mu   sync.RWMutex
	seen map[string]struct{}
	left int
}

// NewTopicLabels labels configured and up to max more topics.
func NewTopicLabels(max int, configured ...string) *TopicLabels {
	l := &TopicLabels{seen: make(map[string]struct{}, len(configured)), left: max}
	for _, t := range configured {
		l.seen[t] = struct{}{}
	}
	return l
}

// Of returns the label value for topic, taking a free one if any is left.
func (l *TopicLabels) Of(topic string) string {
	l.mu.RLock()
	_, ok := l.seen[topic]
	full := l.left == 0
	l.mu.RUnlock()
	switch {
	case ok:
		return topic
	case full:
		return OtherTopic
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[topic]; ok {
		return topic
	}
	if l.left == 0 {
		return OtherTopic
	}
	l.left--
	l.seen[topic] = struct{}{}
	return topic
}
