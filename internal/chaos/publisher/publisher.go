// Package publisher sends a chaos run's publishes and logs every attempt,
// answered or not, for the checker.
package publisher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"ssehub/internal/chaos/clock"
	"ssehub/internal/chaos/history"
	"ssehub/internal/chaos/schedule"
	"ssehub/internal/chaos/servers"
)

// publishTimeout bounds one publish attempt; an attempt without an answer
// is unacknowledged: its event may or may not exist.
const publishTimeout = 3 * time.Second

// Publisher sends publishes and logs every attempt.
type Publisher struct {
	clock     clock.Clock
	instances []*servers.Instance
	cli       *http.Client

	mu  sync.Mutex
	log []history.Publish
}

// New is a publisher to instances, its attempts timed on clk.
func New(clk clock.Clock, instances []*servers.Instance) *Publisher {
	return &Publisher{clock: clk, instances: instances, cli: &http.Client{Timeout: publishTimeout,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 5 * time.Second}}}
}

// Publish sends p to instance inst. A keyed publish that got no id is sent
// again, as a real publisher would (the key makes that safe), and planned
// retries are sent after it as if its answer had been lost.
func (pb *Publisher) Publish(ctx context.Context, inst int, p schedule.PlannedPublish) bool {
	acked := pb.send(ctx, inst, p).Acked()
	for try := 0; !acked && p.Key != "" && try < 3 && ctx.Err() == nil; try++ {
		clock.Sleep(ctx, 200*time.Millisecond)
		acked = pb.send(ctx, p.RetryInstance, p).Acked()
	}
	for range p.Retries {
		pb.send(ctx, p.RetryInstance, p)
	}
	return acked
}

type publishBody struct {
	Topic string          `json:"topic"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Key   string          `json:"key,omitempty"`
}

// send makes one attempt to publish p on instance inst and logs it.
func (pb *Publisher) send(ctx context.Context, inst int, p schedule.PlannedPublish) history.Publish {
	rec := history.Publish{Token: p.Token, Topic: p.Topic, Key: p.Key, Instance: inst, Start: pb.clock.Now()}
	defer func() {
		rec.Done = pb.clock.Now()
		pb.mu.Lock()
		pb.log = append(pb.log, rec)
		pb.mu.Unlock()
	}()
	resp, err := pb.post(ctx, inst, p)
	if err != nil {
		rec.Err = err.Error()
		return rec
	}
	defer resp.Body.Close()
	readAnswer(resp, &rec)
	return rec
}

// post sends POST /publish of p to instance inst. Its errors are kept as
// they are: the log shows them as the attempt's.
func (pb *Publisher) post(ctx context.Context, inst int, p schedule.PlannedPublish) (*http.Response, error) {
	body, err := json.Marshal(publishBody{Topic: p.Topic, Event: "m", Data: json.RawMessage(schedule.Payload(p.Token)), Key: p.Key})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pb.instances[inst].URL()+"/publish", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return pb.cli.Do(req)
}

// readAnswer records the answer to an attempt in rec: its status and the
// id, duplicate flag or error code it carries. An id counts only with 200.
func readAnswer(resp *http.Response, rec *history.Publish) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	rec.Status = resp.StatusCode
	if err != nil {
		rec.Status, rec.Err = 0, fmt.Sprintf("reading the answer: %v", err)
		return
	}
	var out struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
		Code      string `json:"code"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		rec.Err = fmt.Sprintf("answer %q: %v", raw, err)
		return
	}
	rec.ID, rec.Dup, rec.Err = out.ID, out.Duplicate, out.Code
	if rec.Status != http.StatusOK {
		rec.ID = ""
	}
}

// Attempts returns the log so far.
func (pb *Publisher) Attempts() []history.Publish {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	return append([]history.Publish(nil), pb.log...)
}

// CloseIdleConnections closes the connections kept for the next publish,
// so that the instances' sockets count only the clients'.
func (pb *Publisher) CloseIdleConnections() { pb.cli.CloseIdleConnections() }
