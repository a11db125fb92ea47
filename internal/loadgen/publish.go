package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// publish posts numbered, timestamped events at o.Rate for o.Hold, one at a
// time so that ids follow seq; it returns how many the server accepted, or
// just waits out the hold when the rate is 0.
func publish(o Options, u *url.URL) (uint64, int) {
	ctx, cancel := context.WithTimeout(context.Background(), o.Hold)
	defer cancel()
	if o.Rate <= 0 {
		<-ctx.Done()
		return 0, 0
	}
	client := &http.Client{Timeout: 5 * time.Second}
	endpoint := u.Scheme + "://" + u.Host + "/publish"
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	var seq uint64
	errs := 0
	for {
		select {
		case <-ctx.Done():
			return seq, errs
		case <-tick.C:
		}
		body := fmt.Sprintf(`{"topic":%q,"event":"bench","data":{"seq":%d,"ts":%d}}`,
			o.Topic, seq+1, time.Now().UnixNano())
		if postOK(client, endpoint, body) {
			seq++
		} else {
			errs++
		}
	}
}

func postOK(client *http.Client, endpoint, body string) bool {
	resp, err := client.Post(endpoint, "application/json", bytes.NewBufferString(body))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}
