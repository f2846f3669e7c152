package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danube-connect/connect"
)

// serve handles one request of rt: limits, body, authentication, records,
// and the answer once the broker confirmed them all.
func (s *Source) serve(rt *route, w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	reqID := newRequestID()
	w.Header().Set("X-Request-Id", reqID)
	if r.Method != rt.Method {
		w.Header().Set("Allow", rt.Method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use %s", r.Method, rt.Path, rt.Method))
		return
	}
	em := s.em.Load()
	if !s.serving.Load() || em == nil {
		s.unavailable(w, "the connector is stopping")
		return
	}
	if p := s.brokerErr.Load(); p != nil {
		s.unavailable(w, "the broker is unreachable")
		return
	}
	now := s.now()
	client := s.clients.client(r)
	if rt.limit != nil {
		if d := reserve(rt.limit, now); d > 0 {
			tooMany(w, d, "rate limit of "+rt.Path+" exceeded")
			return
		}
	}
	if rt.clients != nil {
		if d := rt.clients.reserve(client, now); d > 0 {
			tooMany(w, d, "rate limit of "+rt.Path+" exceeded for client "+client)
			return
		}
	}
	format, status, msg := rt.format(r.Header.Get("Content-Type"))
	if status != 0 {
		writeError(w, status, msg)
		return
	}
	if rt.Auth != "hmac" { // an HMAC needs the body; the others are checked before reading it
		if !s.authenticate(rt, w, r, nil, now) {
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if rt.Auth == "hmac" && !s.authenticate(rt, w, r, body, now) {
		return
	}
	recs, lines, err := rt.records(r, body, format, reqID, client)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.AckTimeout)
	defer cancel()
	w8 := newWaiter(len(recs))
	for i, rec := range recs {
		if err := em.EmitOutcome(ctx, rec, w8.outcome(i)); err != nil {
			w8.abandon(len(recs) - i)
			switch {
			case connect.ClassOf(err) == connect.ClassInvalidData:
				writeError(w, http.StatusBadRequest, fmt.Sprintf("record %d: %v", i, err))
			case r.Context().Err() != nil:
			default:
				s.unavailable(w, "the broker did not take the records in time")
			}
			return
		}
	}
	select {
	case <-w8.done:
	case <-ctx.Done():
		if r.Context().Err() == nil {
			s.unavailable(w, "the broker did not confirm the records in time")
		}
		return
	}
	if err := w8.failure(); err != nil {
		s.unavailable(w, "publishing failed: "+err.Error())
		return
	}
	if rejected := w8.rejected(lines); len(rejected) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, rejection(reqID, len(recs), rejected))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"request_id": reqID, "records": len(recs)})
}

// rejectedRecord is one record of a 422 answer: the runtime dead-lettered
// it instead of storing it on the topic.
type rejectedRecord struct {
	Index int    `json:"index"`          // the record's index in the request, from 0
	Line  int    `json:"line,omitempty"` // its NDJSON line, from 1 (blank lines count)
	Error string `json:"error"`          // why it was refused
}

// rejection is the body of a 422 answer: every record is safe (stored on
// the topic or on its dead-letter queue); the rejected ones need fixing,
// the others must not be sent again.
func rejection(reqID string, n int, rejected []rejectedRecord) map[string]any {
	var msg string
	if len(rejected) == n {
		msg = fmt.Sprintf("%d of %d records rejected (they do not match the topic's schema or cannot be encoded) and kept on the dead-letter queue; nothing was stored on the topic; resending them unchanged will not help", len(rejected), n)
	} else {
		msg = fmt.Sprintf("%d of %d records rejected (they do not match the topic's schema or cannot be encoded) and kept on the dead-letter queue; the other %d were stored: do not resend them; resend only the rejected records, fixed", len(rejected), n, n-len(rejected))
	}
	if n == 1 {
		msg = "the record was rejected and kept on the dead-letter queue: " + rejected[0].Error
	}
	return map[string]any{
		"error":         msg,
		"request_id":    reqID,
		"records":       n,
		"stored":        n - len(rejected),
		"dead_lettered": len(rejected),
		"rejected":      rejected,
	}
}

// authenticate checks the request; on failure it answers 401 naming the
// problem and returns false.
func (s *Source) authenticate(rt *route, w http.ResponseWriter, r *http.Request, body []byte, now time.Time) bool {
	err := rt.auth(r, body, now)
	if err == nil {
		return true
	}
	if rt.Auth == "jwt" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	writeError(w, http.StatusUnauthorized, err.Error())
	return false
}

// maxIDLen bounds an idempotency key.
const maxIDLen = 256

// format picks the body format from the route and the Content-Type; a
// mismatch is an HTTP status and a message.
func (rt *route) format(contentType string) (string, int, string) {
	if rt.Format == "raw" {
		return "raw", 0, ""
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	isNDJSON := mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonl" || mt == "application/x-jsonlines"
	switch {
	case isJSON && rt.Format != "ndjson":
		return "json", 0, ""
	case isNDJSON && rt.Format != "json":
		return "ndjson", 0, ""
	case rt.Format == "json":
		return "", http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: %s takes application/json", contentType, rt.Path)
	case rt.Format == "ndjson":
		return "", http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: %s takes application/x-ndjson", contentType, rt.Path)
	}
	return "", http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: %s takes application/json or application/x-ndjson", contentType, rt.Path)
}

// records turns a body into records, with the NDJSON line of each (nil
// for a single document); an error names what is wrong.
func (rt *route) records(r *http.Request, body []byte, format, reqID, client string) ([]connect.SourceRecord, []int, error) {
	var docs [][]byte
	var lines []int
	switch format {
	case "raw":
		if len(body) == 0 {
			return nil, nil, errors.New("empty body")
		}
		docs = [][]byte{body}
	case "json":
		if !json.Valid(body) {
			return nil, nil, fmt.Errorf("body is not valid JSON: %v", jsonError(body))
		}
		docs = [][]byte{body}
	default:
		line := 0
		for rest := body; len(rest) > 0; {
			var l []byte
			l, rest, _ = bytes.Cut(rest, []byte("\n"))
			line++
			l = bytes.TrimSpace(l)
			if len(l) == 0 {
				continue
			}
			if !json.Valid(l) {
				return nil, nil, fmt.Errorf("line %d is not valid JSON: %v", line, jsonError(l))
			}
			docs = append(docs, l)
			lines = append(lines, line)
		}
		if len(docs) == 0 {
			return nil, nil, errors.New("empty body: no NDJSON line")
		}
	}
	attrs := map[string]string{
		AttrMethod:     r.Method,
		AttrPath:       rt.Path,
		AttrRemoteAddr: client,
		AttrRequestID:  reqID,
	}
	for _, h := range rt.headers {
		if v := r.Header.Get(h); v != "" {
			attrs[AttrHeader+strings.ToLower(h)] = v
		}
	}
	key := ""
	if rt.KeyHeader != "" {
		key = r.Header.Get(rt.KeyHeader)
	}
	idem := ""
	if rt.IdempotencyHeader != "" {
		idem = r.Header.Get(rt.IdempotencyHeader)
		if len(idem) > maxIDLen {
			return nil, nil, fmt.Errorf("%s longer than %d bytes", rt.IdempotencyHeader, maxIDLen)
		}
	}
	recs := make([]connect.SourceRecord, len(docs))
	for i, doc := range docs {
		rec := connect.SourceRecord{Topic: rt.Topic, Payload: doc, Attributes: attrs, Key: key}
		if rt.KeyField != "" {
			rec.Key = field(doc, rt.KeyField)
		}
		id := idem
		if rt.IdempotencyField != "" {
			id = field(doc, rt.IdempotencyField)
			if len(id) > maxIDLen {
				return nil, nil, fmt.Errorf("record %d: field %s longer than %d bytes", i, rt.IdempotencyField, maxIDLen)
			}
		}
		switch {
		case id == "":
			id = reqID
			if len(docs) > 1 {
				id += "#" + strconv.Itoa(i)
			}
		case rt.IdempotencyField == "" && len(docs) > 1:
			id += "#" + strconv.Itoa(i)
		}
		recs[i] = rec.WithOffset("", rt.Path+"|"+id)
	}
	return recs, lines, nil
}

// field returns a top-level field of a JSON object as text ("" when absent
// or not a string or number).
func field(doc []byte, name string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return ""
	}
	raw, ok := m[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func jsonError(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

// waiter collects the outcomes of one request's records.
type waiter struct {
	left atomic.Int64
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
	dead []error // by record index: why it was dead-lettered, or nil
}

func newWaiter(n int) *waiter {
	w := &waiter{done: make(chan struct{}), dead: make([]error, n)}
	w.left.Store(int64(n))
	return w
}

// outcome returns the Emitter callback of record i: quick, never blocking.
func (w *waiter) outcome(i int) func(connect.Outcome) {
	return func(o connect.Outcome) {
		if o.Err != nil || o.DeadLettered != nil {
			w.mu.Lock()
			if o.Err != nil && w.err == nil {
				w.err = o.Err
			}
			w.dead[i] = o.DeadLettered
			w.mu.Unlock()
		}
		if w.left.Add(-1) == 0 {
			w.once.Do(func() { close(w.done) })
		}
	}
}

// rejected returns the dead-lettered records, with their NDJSON lines
// (lines as returned by records).
func (w *waiter) rejected(lines []int) []rejectedRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []rejectedRecord
	for i, err := range w.dead {
		if err == nil {
			continue
		}
		if cause := errors.Unwrap(err); cause != nil {
			err = cause // without the error class prefix
		}
		rr := rejectedRecord{Index: i, Error: err.Error()}
		if i < len(lines) {
			rr.Line = lines[i]
		}
		out = append(out, rr)
	}
	return out
}

// abandon accounts for n records that were never emitted.
func (w *waiter) abandon(n int) {
	if w.left.Add(-int64(n)) == 0 {
		w.once.Do(func() { close(w.done) })
	}
}

func (w *waiter) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (s *Source) unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", retryAfter(s.cfg.RetryAfter))
	writeError(w, http.StatusServiceUnavailable, msg)
}

func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	w.Header().Set("Retry-After", retryAfter(wait))
	writeError(w, http.StatusTooManyRequests, msg)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
