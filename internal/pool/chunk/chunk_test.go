package chunk

import (
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFrameIsWhatAChunkedReaderReads decodes framed batches of every size
// around the hex digit boundaries with net/http's own chunked reader.
func TestFrameIsWhatAChunkedReaderReads(t *testing.T) {
	t.Parallel()
	var body, want bytes.Buffer
	for _, n := range []int{1, 15, 16, 255, 256, 300, 4095, 4096, 1 << 16} {
		data := strings.Repeat(string(rune('a'+n%26)), n)
		body.Write(Frame(append(make([]byte, Head), data...)))
		want.WriteString(data)
	}
	body.WriteString(Last)
	got, err := io.ReadAll(httputil.NewChunkedReader(&body))
	require.NoError(t, err)
	require.Equal(t, want.String(), string(got))
}

func TestFrameOfNothingIsNothing(t *testing.T) {
	t.Parallel()
	require.Empty(t, Frame(make([]byte, Head)))
}
