package metrics

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTopicLabelsAreBounded(t *testing.T) {
	t.Parallel()
	l := NewTopicLabels(2, "tick")
	require.Equal(t, "tick", l.Of("tick"))
	require.Equal(t, "a", l.Of("a"))
	require.Equal(t, "b", l.Of("b"))
	for i := range 100 {
		require.Equal(t, OtherTopic, l.Of("c"+strconv.Itoa(i)))
	}
	require.Equal(t, "a", l.Of("a"), "a labelled topic keeps its label")
	require.Equal(t, "tick", l.Of("tick"))
}
