package hardening

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ssehub/internal/config"
	"ssehub/internal/testkit"
)

// underAttack runs attack three times against a fresh server, publishing an
// event to a connected witness stream before each round, and then checks the
// witness got every event, in order, with the ids the publishes returned.
func underAttack(t *testing.T, sse string, attack func(t *testing.T, base string)) {
	t.Helper()
	underAttackWith(t, testkit.Config(t, sse, ""), attack)
}

func underAttackWith(t *testing.T, c config.Config, attack func(t *testing.T, base string)) {
	t.Helper()
	inst := testkit.Start(t, c)
	witness := testkit.Open(t, inst.URL+"/sse?topic=witness", nil)
	witness.Next(t)
	const rounds = 3
	ids := make([]string, rounds)
	for i := range rounds {
		ids[i] = testkit.Publish(t, inst.URL, "witness", "seq", strconv.Itoa(i))
		attack(t, inst.URL)
	}
	for i := range rounds {
		f := witness.NextOf(t, "seq")
		require.Equal(t, ids[i], f.ID)
		require.Equal(t, strconv.Itoa(i), f.Data)
	}
}

// postRaw publishes body with contentType and checks the JSON error.
func postRaw(t *testing.T, base, contentType, body string, status int, code string) {
	t.Helper()
	resp, out := do(t, http.MethodPost, base+"/publish", http.Header{"Content-Type": {contentType}}, body)
	requireAPIError(t, resp, out, status, code)
}

func TestAttackMalformedJSON(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		for _, body := range []string{`{"topic":`, `{topic:"a"}`, `[]`, `"x"`, `{"topic":"a","data":1}{}`, "\x00\xff"} {
			postRaw(t, base, "application/json", body, http.StatusBadRequest, "bad_json")
		}
	})
}

func TestAttackTruncatedJSON(t *testing.T) {
	t.Parallel()
	full := `{"topic":"a","event":"e","data":{"k":[1,2,3]},"key":"k1"}`
	underAttack(t, "", func(t *testing.T, base string) {
		for _, n := range []int{1, 10, 30, len(full) - 1} {
			postRaw(t, base, "application/json", full[:n], http.StatusBadRequest, "bad_json")
		}
	})
}

func TestAttackOneMiBBody(t *testing.T) {
	t.Parallel()
	big := `{"topic":"a","data":"` + strings.Repeat("x", 1<<20) + `"}`
	underAttack(t, "", func(t *testing.T, base string) {
		postRaw(t, base, "application/json", big, http.StatusRequestEntityTooLarge, "too_large")
	})
}

func TestAttackOneMiBChunkedBody(t *testing.T) {
	t.Parallel()
	big := `{"topic":"a","data":"` + strings.Repeat("x", 1<<20) + `"}`
	underAttack(t, "", func(t *testing.T, base string) {
		req, err := http.NewRequest(http.MethodPost, base+"/publish", struct{ *strings.Reader }{strings.NewReader(big)})
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		require.Equal(t, int64(0), req.ContentLength, "no length: sent chunked")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var e struct{ Code string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		require.Equal(t, "too_large", e.Code)
	})
}

func TestAttackWrongContentType(t *testing.T) {
	t.Parallel()
	body := `{"topic":"a","data":1}`
	underAttack(t, "", func(t *testing.T, base string) {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/json;;;"} {
			postRaw(t, base, ct, body, http.StatusUnsupportedMediaType, "bad_content_type")
		}
	})
}

// topicAttack checks a bad topic name is refused by publish and subscribe.
func topicAttack(t *testing.T, name string) {
	t.Helper()
	underAttack(t, "", func(t *testing.T, base string) {
		data, err := json.Marshal(map[string]any{"topic": name, "data": 1})
		require.NoError(t, err)
		postRaw(t, base, "application/json", string(data), http.StatusBadRequest, "bad_topic")
		resp, body := do(t, http.MethodGet, base+"/sse?topic="+url.QueryEscape(name), nil, "")
		requireAPIError(t, resp, body, http.StatusBadRequest, "bad_topic")
	})
}

func TestAttackTopicDotDot(t *testing.T) {
	t.Parallel()
	topicAttack(t, "a/../witness")
}

func TestAttackTopicNUL(t *testing.T) {
	t.Parallel()
	topicAttack(t, "witness\x00")
}

func TestAttackTopicCRLF(t *testing.T) {
	t.Parallel()
	topicAttack(t, "witness\r\nevent: evil")
}

func TestAttackTopicTenKiB(t *testing.T) {
	t.Parallel()
	topicAttack(t, strings.Repeat("w", 10<<10))
}

func TestAttackTopicUnicode(t *testing.T) {
	t.Parallel()
	topicAttack(t, "wítness")
	topicAttack(t, "witness\u202e")
}

// requireReset opens a stream with a hostile Last-Event-ID and checks it
// starts with one reset event and nothing the id could have injected.
func requireReset(t *testing.T, base string, header http.Header, query string) {
	t.Helper()
	s := testkit.Open(t, base+"/sse?topic=witness"+query, header)
	f := s.NextEvent(t)
	require.Equal(t, "reset", f.Event)
	var data struct{ Reason, LastEventID string }
	require.NoError(t, json.Unmarshal([]byte(f.Data), &data))
	require.Equal(t, "unknown-id", data.Reason)
	require.LessOrEqual(t, len(data.LastEventID), 64)
	s.Close()
}

func TestAttackLastEventIDCRLFQuery(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		requireReset(t, base, nil, "&lastEventId="+url.QueryEscape("1-1\r\nevent: evil\r\ndata: x\r\n\r\n"))
	})
}

func TestAttackLastEventIDNULQuery(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		requireReset(t, base, nil, "&lastEventId="+url.QueryEscape("1-1\x00"))
	})
}

func TestAttackLastEventIDNonNumeric(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		requireReset(t, base, http.Header{"Last-Event-Id": {"abc-def"}}, "")
		requireReset(t, base, nil, "&lastEventId=-1-2")
	})
}

func TestAttackLastEventID100KiB(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("9", 100<<10)
	underAttack(t, "", func(t *testing.T, base string) {
		requireReset(t, base, http.Header{"Last-Event-Id": {long}}, "")
		requireReset(t, base, nil, "&lastEventId="+long)
	})
}

// rawRequest sends request on a fresh connection and returns the status.
func rawRequest(t *testing.T, base, request string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte(request))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// Go's HTTP server refuses a header value with CR or NUL before ssehub sees
// it, with a plain-text 400; a bare LF only ends the header line.
func TestAttackLastEventIDControlCharsInHeader(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		for _, v := range []string{"1-1\revent: evil", "1-1\x00"} {
			req := "GET /sse?topic=witness HTTP/1.1\r\nHost: x\r\nLast-Event-ID: " + v + "\r\n\r\n"
			require.Equal(t, http.StatusBadRequest, rawRequest(t, base, req), "%q", v)
		}
	})
}

func TestAttackTenThousandQueryTopics(t *testing.T) {
	t.Parallel()
	q := strings.TrimSuffix(strings.Repeat("topic=w&", 10_000), "&")
	underAttack(t, "", func(t *testing.T, base string) {
		resp, body := do(t, http.MethodGet, base+"/sse?"+q, nil, "")
		requireAPIError(t, resp, body, http.StatusBadRequest, "bad_topic")
		// One more parameter than Go's url.ParseQuery takes.
		resp, body = do(t, http.MethodGet, base+"/sse?"+q+"&topic=w", nil, "")
		requireAPIError(t, resp, body, http.StatusBadRequest, "bad_query")
	})
}

func TestAttackMalformedQuery(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		for _, q := range []string{"topic=%zz", "topic=a;topic=b"} {
			resp, body := do(t, http.MethodGet, base+"/sse?"+q, nil, "")
			requireAPIError(t, resp, body, http.StatusBadRequest, "bad_query")
		}
	})
}

// Go's HTTP server answers 431 itself (plain text) past MaxHeaderBytes.
func TestAttackHugeHeader(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		resp, _ := do(t, http.MethodGet, base+"/sse?topic=witness", http.Header{"X-Flood": {strings.Repeat("a", 256<<10)}}, "")
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	})
}

func TestAttackHeaderFlood(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	for i := range 10_000 {
		h.Set("X-Flood-"+strconv.Itoa(i), "0123456789")
	}
	underAttack(t, "", func(t *testing.T, base string) {
		resp, _ := do(t, http.MethodGet, base+"/sse?topic=witness", h, "")
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	})
}

// Connections that send nothing, or half a request, are closed after
// ReadHeaderTimeout while the witness keeps its stream.
func TestAttackHalfOpenConnections(t *testing.T) {
	t.Parallel()
	var conns []net.Conn
	underAttack(t, "ReadHeaderTimeout: 300ms", func(t *testing.T, base string) {
		for i := range 20 {
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close() })
			if i%2 == 1 {
				_, err = conn.Write([]byte("GET /sse?topic=witness HTTP/1.1\r\nHost: x\r\n"))
				require.NoError(t, err)
			}
			conns = append(conns, conn)
		}
	})
	for _, conn := range conns {
		requireDropped(t, conn)
	}
}

// A publisher that sends its headers and then trickles, or stops sending,
// its body is answered within the route's Timeout (here 500ms).
func TestAttackSlowPublishBody(t *testing.T) {
	t.Parallel()
	underAttackWith(t, testkit.Config(t, "", "Timeout: 500\n"), func(t *testing.T, base string) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.Write([]byte("POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			"Content-Length: 100\r\n\r\n{\"topic\":"))
		require.NoError(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(testkit.Wait)))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		requireAPIError(t, resp, body, http.StatusRequestTimeout, "timeout")
	})
}

// EventSource dispatches "error" and "open" to a page's onerror and onopen,
// so a publisher must not be able to send them; "reset" and "tick" are the
// server's own.
func TestAttackReservedEventTypes(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		for _, ev := range []string{"error", "open", "reset", "tick"} {
			postRaw(t, base, "application/json", `{"topic":"witness","event":"`+ev+`","data":1}`,
				http.StatusBadRequest, "bad_event")
		}
	})
}

// Invalid UTF-8 inside an object (or string) payload is refused, not passed
// to the wire as it came.
func TestAttackInvalidUTF8Payload(t *testing.T) {
	t.Parallel()
	underAttack(t, "", func(t *testing.T, base string) {
		for _, data := range []string{"{\"k\":\"\xff\xfe\"}", "[\"\xc3\"]", "\"a\xffb\""} {
			postRaw(t, base, "application/json", `{"topic":"witness","event":"seq","data":`+data+`}`,
				http.StatusBadRequest, "bad_data")
		}
	})
}
