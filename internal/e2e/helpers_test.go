package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"ssehub/internal/auth"
	"ssehub/internal/testkit"
)

// secret signs the tokens of the Auth tests.
const secret = "e2e-test-secret-0123456789abcdefghij"

// authYAML turns Auth on, at the top level of a config.
const authYAML = "Auth:\n  Enabled: true\n  Secret: " + secret + "\n"

// token mints a JWT that may subscribe and publish to topics.
func token(t *testing.T, topics ...string) string {
	t.Helper()
	tok, err := auth.Mint(secret, "e2e", auth.Grants{Subscribe: topics, Publish: topics}, time.Hour)
	require.NoError(t, err)
	return tok
}

// publishAs publishes n "update" events on topic with a bearer token and
// returns them as the page shows them.
func publishAs(t *testing.T, base, tok, topic string, n int) []Event {
	t.Helper()
	out := make([]Event, 0, n)
	for i := range n {
		data := fmt.Sprintf(`{"topic":%q,"n":%d}`, topic, i)
		body := fmt.Sprintf(`{"topic":%q,"event":"update","data":%s}`, topic, data)
		req, err := http.NewRequest(http.MethodPost, base+"/publish", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var got struct {
			ID string `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		_ = resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		out = append(out, Event{Event: "update", ID: got.ID, Data: data})
	}
	return out
}

// clients reads the ssehub_clients gauge: the streams the server holds (-1
// when it cannot be read).
func clients(base string) int {
	return int(testkit.MetricNow(base, "ssehub_clients"))
}

// requireClients waits up to Bound for the server to hold n streams; the
// gauge moves when the server notices a stream open or end, not with the page.
func requireClients(t *testing.T, base string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return clients(base) == n }, Bound, 20*time.Millisecond,
		"the server should hold %d streams", n)
}

// pasteToken waits for the page to ask for a token and gives it one.
func pasteToken(t *testing.T, tab *Tab, tok string) {
	t.Helper()
	p := tab.Wait(`p.tokenNeeded && p.refusedStatus === 401`)
	require.Equal(t, "closed", p.State, "a 401 is not retried: %s", p)
	require.Contains(t, p.Refused, "paste a token")
	tab.Do("paste the token",
		chromedp.SetValue(chromedp.ID("token"), tok),
		chromedp.Click(chromedp.CSS("#token-form button[type=submit]")),
	)
}
