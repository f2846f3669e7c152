package webhook

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/schema"
)

// answer422 is the body of a 422 answer.
type answer422 struct {
	Error        string           `json:"error"`
	RequestID    string           `json:"request_id"`
	Records      int              `json:"records"`
	Stored       int              `json:"stored"`
	DeadLettered int              `json:"dead_lettered"`
	Rejected     []rejectedRecord `json:"rejected"`
}

// A record the topic's schema rejects is dead-lettered and answered 422
// naming the problem, never 200; in an NDJSON batch the answer says which
// lines were rejected and how many records were stored.
func TestSchemaRejectedRecordsAnswered422(t *testing.T) {
	const topic = "/default/webhook-schema"
	spec := schema.Spec{Topic: topic, Subject: "webhook-schema", Type: schema.JSONSchema, AutoRegister: true,
		Definition: []byte(`{"type":"object","required":["amount"],"properties":{"amount":{"type":"integer"}}}`)}
	s := startServer(t, testConfig(t, newRoute("/pay", topic, nil)),
		connecttest.WithSourceConfig(func(c *connect.SourceConfig) { c.Topics[0].Schema = &spec }))
	s.waitReady(t)

	if rep := s.post(t, "/pay", "application/json", []byte(`{"amount":1}`)); rep.status != 200 {
		t.Fatalf("valid record: %d %s, want 200", rep.status, rep.body)
	}
	rep := s.post(t, "/pay", "application/json", []byte(`{"amount":"two"}`))
	var one answer422
	if rep.status != 422 || json.Unmarshal([]byte(rep.body), &one) != nil {
		t.Fatalf("record the schema rejects: %d %s, want 422", rep.status, rep.body)
	}
	if !strings.Contains(one.Error, "dead-letter queue") || !strings.Contains(one.Error, "schema") ||
		one.Records != 1 || one.Stored != 0 || one.DeadLettered != 1 || len(one.Rejected) != 1 || one.Rejected[0].Index != 0 ||
		one.Rejected[0].Line != 0 || one.RequestID != rep.header.Get("X-Request-Id") {
		t.Errorf("422 body %s", rep.body)
	}
	t.Logf("single record: %s", rep.body)

	batch := "{\"amount\":3}\n{\"amount\":\"four\"}\n\n{\"amount\":5}\n{}\n"
	rep = s.post(t, "/pay", "application/x-ndjson", []byte(batch))
	var b answer422
	if rep.status != 422 || json.Unmarshal([]byte(rep.body), &b) != nil {
		t.Fatalf("batch with rejected lines: %d %s, want 422", rep.status, rep.body)
	}
	t.Logf("batch: %s", rep.body)
	if b.Records != 4 || b.Stored != 2 || b.DeadLettered != 2 || len(b.Rejected) != 2 ||
		b.Rejected[0].Index != 1 || b.Rejected[0].Line != 2 || b.Rejected[1].Index != 3 || b.Rejected[1].Line != 5 ||
		!strings.Contains(b.Error, "2 of 4 records rejected") || !strings.Contains(b.Error, "the other 2 were stored") {
		t.Errorf("422 body %s", rep.body)
	}
	for _, r := range b.Rejected {
		if !strings.Contains(r.Error, "schema") {
			t.Errorf("rejected record %d: reason %q does not name the schema", r.Index, r.Error)
		}
	}
	if rep := s.post(t, "/pay", "application/x-ndjson", []byte("{\"amount\":6}\n{\"amount\":7}\n")); rep.status != 200 {
		t.Fatalf("valid batch: %d %s, want 200", rep.status, rep.body)
	}

	got := payloads(s.run)
	slices.Sort(got)
	if want := []string{`{"amount":1}`, `{"amount":3}`, `{"amount":5}`, `{"amount":6}`, `{"amount":7}`}; !slices.Equal(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
	var dead []string
	for _, d := range s.run.DeadLettered() {
		dead = append(dead, string(d.Payload))
	}
	slices.Sort(dead)
	if want := []string{`{"amount":"four"}`, `{"amount":"two"}`, `{}`}; !slices.Equal(dead, want) {
		t.Errorf("dead-lettered %q, want %q", dead, want)
	}
}
