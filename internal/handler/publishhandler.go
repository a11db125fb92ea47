package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/zeromicro/go-zero/rest/httpx"

	"ssehub/internal/apierr"
	"ssehub/internal/auth"
	"ssehub/internal/event"
	"ssehub/internal/eventlog"
	"ssehub/internal/svc"
	"ssehub/internal/ticker"
	"ssehub/internal/topic"
)

const (
	defaultEventType = "message"
	maxEventTypeLen  = 64
	maxKeyLen        = 128
)

// reservedTypes are event types that only the server sends, and the names
// of EventSource's own events: a published "error" would fire a page's
// onerror, an "open" its onopen.
var reservedTypes = map[string]bool{"reset": true, ticker.Type: true, "error": true, "open": true}

// publishRequest is the body of POST /publish. go-zero's httpx.Parse cannot
// carry an arbitrary JSON value (it reports a type mismatch for any, and for
// json.RawMessage), so the body is decoded with encoding/json.
type publishRequest struct {
	Topic string          `json:"topic"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Key   string          `json:"key"`
}

type publishResponse struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// PublishHandler serves POST /publish.
func PublishHandler(svcCtx *svc.ServiceContext) http.HandlerFunc {
	maxBytes := svcCtx.Config.Sse.MaxEventBytes
	return func(w http.ResponseWriter, r *http.Request) {
		who, err := publisher(svcCtx, r)
		if err != nil {
			apierr.Write(w, r, err)
			return
		}
		key := svcCtx.ClientIP.Of(r)
		if who != nil {
			key = who.Key
		}
		if !svcCtx.PublishRate.Allow(key) {
			apierr.Write(w, r, rateLimited(svcCtx.PublishRate))
			return
		}
		m, err := decodePublish(w, r, maxBytes)
		if err != nil {
			apierr.Write(w, r, err)
			return
		}
		if who != nil && !who.Publish.Allows(m.Topic) {
			apierr.Write(w, r, forbiddenTopic(m.Topic, "publishing to"))
			return
		}
		id, dup, err := svcCtx.Publish(r.Context(), m)
		if err != nil {
			apierr.Write(w, r, publishError(err))
			return
		}
		httpx.OkJsonCtx(r.Context(), w, publishResponse{ID: id.String(), Duplicate: dup})
	}
}

// publisher is who publishes: the token's identity with Auth on, nil (anyone)
// with Auth off and Sse.PublishOpen set.
func publisher(svcCtx *svc.ServiceContext, r *http.Request) (*auth.Identity, error) {
	if svcCtx.Auth != nil {
		id, err := svcCtx.Auth.Publish(r.Context())
		if err != nil {
			return nil, unauthorized(err)
		}
		return id, nil
	}
	if !svcCtx.Config.Sse.PublishOpen {
		return nil, apierr.New(http.StatusForbidden, "publish_closed",
			"publishing is off: enable Auth or set Sse.PublishOpen")
	}
	return nil, nil
}

func publishError(err error) error {
	if errors.Is(err, eventlog.ErrUnavailable) {
		return apierr.Unavailable("log_unavailable", "the event log is unavailable, nothing was published", retryAfter)
	}
	return err
}

// decodePublish reads and checks a publish body; it never reads more than
// maxBytes, so a huge body costs nothing.
func decodePublish(w http.ResponseWriter, r *http.Request, maxBytes int64) (event.Message, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return event.Message{}, apierr.New(http.StatusUnsupportedMediaType, "bad_content_type",
			"Content-Type must be application/json")
	}
	tooLarge := apierr.New(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than Sse.MaxEventBytes")
	if r.ContentLength > maxBytes {
		return event.Message{}, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return event.Message{}, tooLarge
		}
		return event.Message{}, apierr.New(http.StatusBadRequest, "bad_body", "the body could not be read")
	}

	var req publishRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return event.Message{}, badRequest("bad_json", "the body is not a JSON object of topic, event, data, key: "+err.Error())
	}
	if dec.More() {
		return event.Message{}, badRequest("bad_json", "the body holds more than one JSON value")
	}
	return req.message()
}

func (req *publishRequest) message() (event.Message, error) {
	if req.Topic == "" {
		return event.Message{}, badRequest("missing_topic", "topic is required")
	}
	if err := topic.Valid(req.Topic); err != nil {
		return event.Message{}, badRequest("bad_topic", err.Error())
	}
	if req.Topic == ticker.Topic {
		return event.Message{}, apierr.New(http.StatusForbidden, "topic_reserved", "the tick topic is written by the server only")
	}
	if req.Event == "" {
		req.Event = defaultEventType
	}
	if len(req.Event) > maxEventTypeLen || !printable(req.Event) {
		return event.Message{}, badRequest("bad_event", "event must be 1-64 printable characters")
	}
	if reservedTypes[req.Event] {
		return event.Message{}, badRequest("bad_event", "event type "+req.Event+" is reserved for the server")
	}
	if len(req.Key) > maxKeyLen || !printable(req.Key) {
		return event.Message{}, badRequest("bad_key", "key must be at most 128 printable characters")
	}
	data, err := payload(req.Data)
	if err != nil {
		return event.Message{}, err
	}
	return event.Message{Topic: req.Topic, Type: req.Event, Data: data, Key: req.Key}, nil
}

// payload is the text written as data lines: a JSON string as its text,
// anything else as compact JSON on one line.
func payload(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, badRequest("missing_data", "data is required (any JSON value, null included)")
	}
	// encoding/json passes invalid UTF-8 through raw values (and replaces it
	// in strings): refuse it rather than put it on the wire or change it.
	if !utf8.Valid(raw) {
		return nil, badRequest("bad_data", "data is not valid UTF-8")
	}
	if raw[0] == '"' {
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, badRequest("bad_data", err.Error())
		}
		return []byte(text), nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, badRequest("bad_data", err.Error())
	}
	return out.Bytes(), nil
}

// printable rejects control characters, so names are safe on one wire line.
func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == 0xfffd {
			return false
		}
	}
	return true
}

func badRequest(code, message string) error {
	return apierr.New(http.StatusBadRequest, code, message)
}
