// Package httpsink is a sink connector sending records to an HTTP endpoint:
// one request per record (the payload as body) or one per batch (a JSON
// array or NDJSON).
//
// Delivery: a record is acknowledged to Danube only after the endpoint
// answered 2xx (or the record went to the dead-letter queue), so delivery
// is at-least-once: a crash or a timeout after the endpoint processed a
// request sends it again. Every request carries the record id in an
// idempotency header, so an endpoint that remembers it processes each
// record once.
//
// Answers: 2xx is success; 408, 429, 5xx and network errors are retried
// (after Retry-After when the endpoint sends one); 401 and 403 stop the
// connector (credentials are wrong for every record, nothing is acked);
// any other 4xx dead-letters the record with the status and the start of
// the answer.
package httpsink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/danube-connect/connect"
)

// excerptBytes is how much of an error answer is kept.
const excerptBytes = 512

// Sink sends records over HTTP. Create it with [New]. It is safe for
// concurrent use.
type Sink struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger

	notBefore atomic.Int64 // unix nanoseconds before which nothing is sent (Retry-After)
}

// batchSink is a Sink in batch mode.
type batchSink struct{ *Sink }

var (
	_ connect.Sink      = (*Sink)(nil)
	_ connect.BatchSink = batchSink{}
)

// New returns a sink for cfg (defaults applied, validated): a
// [connect.BatchSink] in batch mode. A CA file that cannot be read is a
// Configuration error.
func New(cfg Config) (connect.Sink, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.MaxConnections
	tr.MaxIdleConns = cfg.MaxConnections
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, connect.Configuration(fmt.Errorf("http sink: ca_file: %w", err))
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, connect.Configuration(fmt.Errorf("http sink: ca_file %s: no PEM certificate", cfg.CAFile))
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	s := &Sink{cfg: cfg, log: slog.New(slog.DiscardHandler), client: &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// A redirect of a POST is a configuration problem, not something
		// to follow silently.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if cfg.Mode == "batch" {
		return batchSink{s}, nil
	}
	return s, nil
}

// Open keeps the logger.
func (s *Sink) Open(_ context.Context, env connect.SinkEnv) error {
	if env.Logger != nil {
		s.log = env.Logger
	}
	return nil
}

// Close releases idle connections.
func (s *Sink) Close(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}

// Write sends one record.
func (s *Sink) Write(ctx context.Context, rec connect.SinkRecord) error {
	return s.send(ctx, rec.Payload, s.cfg.ContentType, recordID(rec), fmt.Sprintf("record %s offset %d", rec.PartitionTopic, rec.Offset))
}

// WriteBatch sends the batch as one request. A batch rejected with a 4xx is
// sent again record by record, each as a batch of one with the record id as
// idempotency key (split_rejected_batch), so that only the rejected records
// fail.
func (b batchSink) WriteBatch(ctx context.Context, recs []connect.SinkRecord) error {
	body, ctype, be := b.batchBody(recs)
	if body == nil {
		return be // every record was unusable
	}
	ids := sha256.New()
	var sent []int
	for i, rec := range recs {
		if be == nil || !failed(be, i) {
			ids.Write([]byte(recordID(rec)))
			ids.Write([]byte{0})
			sent = append(sent, i)
		}
	}
	what := fmt.Sprintf("batch of %d records from %s offsets %d-%d", len(sent), recs[0].PartitionTopic, recs[0].Offset, recs[len(recs)-1].Offset)
	key := hex.EncodeToString(ids.Sum(nil))[:32]
	if len(sent) == 1 {
		// A batch of one is the record alone: the same idempotency key and
		// description as when a rejected batch is split.
		i := sent[0]
		what = fmt.Sprintf("record %s offset %d, alone", recs[i].PartitionTopic, recs[i].Offset)
		key = recordID(recs[i])
	}
	err := b.send(ctx, body, ctype, key, what)
	if err == nil {
		if be != nil {
			return be
		}
		return nil
	}
	if connect.ClassOf(err) == connect.ClassInvalidData && b.cfg.SplitRejectedBatch && len(sent) > 1 {
		b.log.Warn("batch rejected; sending its records one by one", "records", len(sent), "err", err)
		if be == nil {
			be = &connect.BatchError{}
		}
		for _, i := range sent {
			one, ctype, _ := b.batchBody(recs[i : i+1])
			what := fmt.Sprintf("record %s offset %d, alone", recs[i].PartitionTopic, recs[i].Offset)
			if werr := b.send(ctx, one, ctype, recordID(recs[i]), what); werr != nil {
				be.Add(i, werr)
			}
		}
		if len(be.Failures) == 0 {
			return nil
		}
		return be
	}
	if be == nil {
		return err
	}
	for _, i := range sent {
		be.Add(i, err)
	}
	return be
}

func failed(be *connect.BatchError, i int) bool {
	for _, f := range be.Failures {
		if f.Index == i {
			return true
		}
	}
	return false
}

// batchBody builds the body of a batch; records whose payload is not JSON
// are reported in the BatchError. body is nil when no record is usable.
func (b batchSink) batchBody(recs []connect.SinkRecord) (body []byte, ctype string, be *connect.BatchError) {
	var buf bytes.Buffer
	nd := b.cfg.BatchFormat == "ndjson"
	if !nd {
		buf.WriteByte('[')
	}
	n := 0
	for i, rec := range recs {
		if !json.Valid(rec.Payload) {
			if be == nil {
				be = &connect.BatchError{}
			}
			be.Add(i, connect.InvalidData(fmt.Errorf("record %s offset %d: payload is not JSON, a %s batch needs JSON", rec.PartitionTopic, rec.Offset, b.cfg.BatchFormat)))
			continue
		}
		if n > 0 && !nd {
			buf.WriteByte(',')
		}
		_ = json.Compact(&buf, rec.Payload) // valid: cannot fail
		if nd {
			buf.WriteByte('\n')
		}
		n++
	}
	if n == 0 {
		return nil, "", be
	}
	if nd {
		return buf.Bytes(), "application/x-ndjson", be
	}
	buf.WriteByte(']')
	return buf.Bytes(), "application/json", be
}

// recordID is the record's x-record-id, else its broker position (see
// connect.SinkRecord.RecordID).
func recordID(rec connect.SinkRecord) string { return rec.RecordID() }

// send makes one request and classifies the outcome.
func (s *Sink) send(ctx context.Context, body []byte, ctype, idem, what string) error {
	if err := s.waitRetryAfter(ctx); err != nil {
		return connect.Retryable(err)
	}
	req, err := http.NewRequestWithContext(ctx, s.cfg.Method, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return connect.Fatal(fmt.Errorf("http sink: %w", err))
	}
	req.Header.Set("Content-Type", ctype)
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	if s.cfg.IdempotencyHeader != "" {
		req.Header.Set(s.cfg.IdempotencyHeader, idem)
	}
	switch {
	case s.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+s.cfg.BearerToken)
	case s.cfg.BasicUser != "" || s.cfg.BasicPassword != "":
		req.SetBasicAuth(s.cfg.BasicUser, s.cfg.BasicPassword)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return connect.Retryable(fmt.Errorf("http sink: %s %s (%s): %w", s.cfg.Method, s.cfg.URL, what, err))
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err = fmt.Errorf("http sink: %s %s (%s): HTTP %d %s: %s", s.cfg.Method, s.cfg.URL, what, code, http.StatusText(code), bytes.TrimSpace(excerpt))
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			s.holdUntil(time.Now().Add(min(d, s.cfg.MaxRetryAfter)))
		}
		return connect.Retryable(err)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return connect.Fatal(fmt.Errorf("%w (the credentials are refused for every record: fix them and restart)", err))
	case code >= 300 && code < 400:
		return connect.Fatal(fmt.Errorf("%w (redirected to %q: configure that URL)", err, resp.Header.Get("Location")))
	}
	return connect.InvalidData(err)
}

// holdUntil makes every sender wait until t.
func (s *Sink) holdUntil(t time.Time) {
	for {
		cur := s.notBefore.Load()
		if t.UnixNano() <= cur || s.notBefore.CompareAndSwap(cur, t.UnixNano()) {
			return
		}
	}
}

// waitRetryAfter waits until the endpoint's Retry-After has passed.
func (s *Sink) waitRetryAfter(ctx context.Context) error {
	d := time.Until(time.Unix(0, s.notBefore.Load()))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("http sink: waiting for Retry-After: %w", ctx.Err())
	}
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
