package httpsink

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connecttest"
)

func isBad(p []byte) bool { return bytes.Contains(p, []byte(`"bad"`)) }

func messages(n int, bad ...int) []connecttest.Message {
	out := make([]connecttest.Message, n)
	for i := range out {
		kind := "good"
		for _, b := range bad {
			if b == i {
				kind = "bad"
			}
		}
		out[i] = connecttest.Message{Payload: fmt.Appendf(nil, `{"i":%d,"kind":%q}`, i, kind), Key: fmt.Sprintf("k%d", i%3)}
	}
	return out
}

var patientRetry = connecttest.WithRetry(connect.RetryPolicy{MaxRetries: 20, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond})

// Against an endpoint that fails transiently, rate limits with Retry-After
// and rejects some records: every good record arrives, each rejected one is
// dead-lettered with the status and the answer, Retry-After is honoured,
// and the record id travels in the idempotency header.
func TestRecordMode(t *testing.T) {
	e := newEndpoint(t, false)
	e.fail[1], e.fail[2], e.fail[3] = 503, 500, 408
	e.limit[6] = "1"
	e.reject = isBad
	run := connecttest.RunSink(t, newSink(t, sinkConfig(t, e, func(c *Config) { c.Headers = map[string]string{"X-Tenant": "t1"} })), patientRetry)
	msgs := messages(30, 4, 17, 29)
	offs := run.Publish(msgs...)
	rep := run.Wait()
	if rep.Stopped {
		t.Fatalf("stopped: %v", rep.Err)
	}
	if len(rep.Acked) != 30 {
		t.Fatalf("%d of 30 acked", len(rep.Acked))
	}
	if len(rep.DeadLettered) != 3 {
		t.Fatalf("%d dead-lettered, want 3: %+v", len(rep.DeadLettered), rep.DeadLettered)
	}
	for _, d := range rep.DeadLettered {
		if !isBad(d.Payload) || d.Class != "invalid_data" || !strings.Contains(d.Reason, "HTTP 422") || !strings.Contains(d.Reason, "invalid record: {") {
			t.Errorf("dead letter %s: class %s reason %q", d.Payload, d.Class, d.Reason)
		}
	}
	got := map[string]int{}
	for _, p := range e.got() {
		got[string(p)]++
	}
	for i, m := range msgs {
		if !isBad(m.Payload) && got[string(m.Payload)] == 0 {
			t.Errorf("record %d never accepted by the endpoint", i)
		}
	}
	reqs := e.seen()
	var limitedAt time.Time
	for i, r := range reqs {
		if r.header.Get("X-Tenant") != "t1" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d headers %v", i, r.header)
		}
		if want := fmt.Sprintf("%s#%d", run.Topic(), offs[0]); i == 0 && r.header.Get("Idempotency-Key") != want {
			t.Errorf("first request Idempotency-Key %q, want %q", r.header.Get("Idempotency-Key"), want)
		}
		if r.status == 429 {
			limitedAt = r.at
		} else if !limitedAt.IsZero() {
			if gap := r.at.Sub(limitedAt); gap < 900*time.Millisecond {
				t.Errorf("a request followed the 429 (Retry-After: 1) after %v", gap)
			}
			limitedAt = time.Time{}
		}
	}
}

// A record id set by a source runtime is the idempotency key.
func TestIdempotencyKeyIsRecordID(t *testing.T) {
	e := newEndpoint(t, false)
	run := connecttest.RunSink(t, newSink(t, sinkConfig(t, e, func(c *Config) { c.IdempotencyHeader = "X-Idem" })))
	run.Publish(connecttest.Message{Payload: []byte(`{}`), Attributes: map[string]string{connect.AttrRecordID: "src/p/42"}})
	run.Wait()
	if reqs := e.seen(); len(reqs) != 1 || reqs[0].header.Get("X-Idem") != "src/p/42" {
		t.Fatalf("requests %+v", reqs)
	}
}

// Batches are JSON arrays or NDJSON; a rejected batch is split so that
// only its bad records are dead-lettered; a payload that is not JSON is
// dead-lettered without a request.
func TestBatchMode(t *testing.T) {
	for _, format := range []string{"json_array", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			e := newEndpoint(t, false)
			e.batchMode = format
			e.reject = isBad
			cfg := sinkConfig(t, e, func(c *Config) { c.Mode, c.BatchFormat = "batch", format })
			run := connecttest.RunSink(t, newSink(t, cfg), patientRetry, connecttest.WithBatch(connect.BatchPolicy{MaxRecords: 10, MaxWait: 20 * time.Millisecond}))
			msgs := messages(40, 5, 23)
			msgs = append(msgs, connecttest.Message{Payload: []byte("not json"), Key: "k0"})
			run.Publish(msgs...)
			rep := run.Wait()
			if rep.Stopped {
				t.Fatalf("stopped: %v", rep.Err)
			}
			if len(rep.DeadLettered) != 3 {
				t.Fatalf("%d dead-lettered, want 3 (two rejected, one not JSON)", len(rep.DeadLettered))
			}
			for _, d := range rep.DeadLettered {
				if string(d.Payload) == "not json" {
					if !strings.Contains(d.Reason, "not JSON") {
						t.Errorf("not-JSON reason %q", d.Reason)
					}
				} else if !isBad(d.Payload) || !strings.Contains(d.Reason, "HTTP 400 Bad Request: batch holds an invalid record") || !strings.Contains(d.Reason, "alone") {
					t.Errorf("dead letter %s: %q", d.Payload, d.Reason)
				}
			}
			got := map[string]bool{}
			for _, p := range e.got() {
				got[string(p)] = true
			}
			for i, m := range msgs[:40] {
				if !isBad(m.Payload) && !got[string(m.Payload)] {
					t.Errorf("record %d not accepted", i)
				}
			}
			batches := 0
			for _, r := range e.seen() {
				if bytes.Count(r.body, []byte(`"i"`)) > 1 {
					batches++
				}
			}
			if batches == 0 {
				t.Fatal("no request carried a batch")
			}
		})
	}
}

// Bearer authentication over TLS with a custom CA; refused credentials
// stop the connector without acking anything.
func TestTLSAuthAndRefusedCredentials(t *testing.T) {
	e := newEndpoint(t, true)
	e.auth = "Bearer s3cret"
	ca := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}), 0o600))
	run := connecttest.RunSink(t, newSink(t, sinkConfig(t, e, func(c *Config) { c.CAFile, c.BearerToken = ca, "s3cret" })))
	run.Publish(messages(5)...)
	if rep := run.Wait(); len(rep.Written) != 5 || len(e.got()) != 5 {
		t.Fatalf("written %d, endpoint has %d", len(rep.Written), len(e.got()))
	}

	wrong := connecttest.RunSink(t, newSink(t, sinkConfig(t, e, func(c *Config) { c.CAFile, c.BasicUser, c.BasicPassword = ca, "u", "p" })),
		connecttest.WithTopic("/default/refused"))
	wrong.Publish(messages(3)...)
	rep := wrong.Wait()
	if !rep.Stopped || rep.ExitCode != 1 || !strings.Contains(fmt.Sprint(rep.Err), "HTTP 401") {
		t.Fatalf("refused credentials: stopped %v, exit %d, err %v", rep.Stopped, rep.ExitCode, rep.Err)
	}
	if len(rep.Acked) != 0 || len(rep.DeadLettered) != 0 {
		t.Fatalf("acked %d, dead-lettered %d with refused credentials", len(rep.Acked), len(rep.DeadLettered))
	}
	if h := e.seen()[len(e.seen())-1].header.Get("Authorization"); !strings.HasPrefix(h, "Basic ") {
		t.Fatalf("Authorization %q, want basic", h)
	}

	// Without the CA the server's certificate is not trusted: Retryable.
	plain := newSink(t, sinkConfig(t, e, func(c *Config) { c.BearerToken = "s3cret" }))
	err := plain.Write(t.Context(), connect.SinkRecord{Payload: []byte(`{}`), PartitionTopic: "/default/t"})
	if connect.ClassOf(err) != connect.ClassRetryable || !strings.Contains(fmt.Sprint(err), "certificate") {
		t.Fatalf("untrusted server: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"7": 7 * time.Second, "0": 0, now.Add(90 * time.Second).Format(time.RFC1123): 90 * time.Second,
	} {
		if d, ok := parseRetryAfter(strings.Replace(in, "UTC", "GMT", 1), now); !ok || d != want {
			t.Errorf("%q: %v %v, want %v", in, d, ok, want)
		}
	}
	for _, in := range []string{"", "soon", "-3"} {
		if _, ok := parseRetryAfter(in, now); ok {
			t.Errorf("%q accepted", in)
		}
	}
}
