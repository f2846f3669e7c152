package connect_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/schema"
)

// rawSource emits n records with the raw payloads payload(i), offsets
// p0/i, then waits for the end of the run.
type rawSource struct {
	n       int
	payload func(i int) string
	done    bool

	mu        sync.Mutex
	committed connect.Offsets
}

func (s *rawSource) Open(context.Context, connect.SourceEnv) error { return nil }
func (s *rawSource) Close(context.Context) error                   { return nil }
func (s *rawSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if s.done {
		<-ctx.Done()
		return nil, nil
	}
	s.done = true
	recs := make([]connect.SourceRecord, s.n)
	for i := range recs {
		recs[i] = connect.NewTextRecord("", s.payload(i)).WithOffset("p0", strconv.Itoa(i))
	}
	return recs, nil
}

func (s *rawSource) Commit(_ context.Context, offs connect.Offsets) error {
	s.mu.Lock()
	s.committed = offs
	s.mu.Unlock()
	return nil
}

func (s *rawSource) lastCommit() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed["p0"]
}

const countSchema = `{"type":"object","properties":{"n":{"type":"integer","minimum":0}},"required":["n"],"additionalProperties":false}`

// countPayload is valid for the schema except every fourth record (a
// string where an integer belongs) and every tenth (not JSON at all).
func countPayload(i int) string {
	switch {
	case i%10 == 9:
		return "garbage " + strconv.Itoa(i)
	case i%4 == 3:
		return `{"n":"` + strconv.Itoa(i) + `"}`
	}
	return `{"n":` + strconv.Itoa(i) + `}`
}

func countPayloadValid(i int) bool { return i%10 != 9 && i%4 != 3 }

// A source topic with a json_schema Spec checks raw payloads: the valid ones
// are published with the schema (through a broker that enforces payload
// validation), the others are dead-lettered with the failure attributes,
// none is lost and the offsets are committed past them.
func TestSourceSchemaValidatesRawPayloads(t *testing.T) {
	b := startBroker(t)
	ctx := t.Context()
	cl := newClient(t, b)
	const topic, subject, n = "/default/counts", "counts", 100
	spec := &schema.Spec{Subject: subject, Type: schema.JSONSchema, Definition: []byte(countSchema), AutoRegister: true}

	// Register the subject and make the broker enforce payload validation:
	// an invalid payload published anyway would fail the run.
	codec, err := schema.NewCodec(ctx, cl.Schemas(), *spec)
	must(t, err)
	p, err := cl.NewProducer(ctx, topic, danube.WithProducerName("creator"), danube.WithReliable(), danube.WithSchema(codec.SchemaRef()))
	must(t, err)
	_ = p.Close()
	must(t, cl.Schemas().ConfigureTopic(ctx, topic, subject, danube.ValidationEnforce, true))
	if err := codec.Validate([]byte(countPayload(3))); err == nil {
		t.Fatal("the test schema accepts an invalid payload")
	}

	src := &rawSource{n: n, payload: countPayload}
	store := &connect.MemoryOffsetStore{}
	cfg := sourceConfig(b, "counter", topic, store)
	cfg.Topics[0].Schema = spec
	rt, err := connect.NewSourceRuntime(src, cfg)
	must(t, err)
	run := start(t, rt)
	eventually(t, "every offset committed", func() bool { return src.lastCommit() == strconv.Itoa(n-1) })
	must(t, run.stop(t))

	published := map[string]int{}
	for _, m := range messagesOf(b, topic) {
		published[string(m.Payload)]++
		if m.SchemaID != codec.ID() || m.SchemaVersion != codec.Version() {
			t.Fatalf("message %s carries schema %d/%d, want %d/%d", m.Payload, m.SchemaID, m.SchemaVersion, codec.ID(), codec.Version())
		}
	}
	dead := map[string]int{}
	for _, m := range messagesOf(b, topic+"-dlq") {
		dead[string(m.Payload)]++
		i, _ := strconv.Atoi(m.Attributes[connect.AttrRecordID][len("counter/p0/"):])
		if m.Attributes[connect.AttrErrorClass] != "invalid_data" || m.Attributes[connect.AttrOriginalTopic] != topic ||
			m.Attributes[connect.AttrConnector] != "counter" || m.Attributes[connect.AttrFailedAt] == "" ||
			!strings.Contains(m.Attributes[connect.AttrFailureReason], `subject "counts" version 1: schema: invalid json_schema payload`) ||
			string(m.Payload) != countPayload(i) {
			t.Fatalf("dead-lettered %s: %v", m.Payload, m.Attributes)
		}
	}
	valid := 0
	for i := range n {
		pl := countPayload(i)
		if countPayloadValid(i) {
			valid++
			if published[pl] != 1 || dead[pl] != 0 {
				t.Fatalf("valid record %d: published %d times, dead-lettered %d times", i, published[pl], dead[pl])
			}
		} else if dead[pl] != 1 || published[pl] != 0 {
			t.Fatalf("invalid record %d: published %d times, dead-lettered %d times", i, published[pl], dead[pl])
		}
	}
	if len(published) != valid || len(dead) != n-valid {
		t.Fatalf("%d published and %d dead-lettered, want %d and %d", len(published), len(dead), valid, n-valid)
	}
	offs, err := store.Load(ctx, "counter")
	must(t, err)
	if offs["p0"] != strconv.Itoa(n-1) {
		t.Fatalf("stored offsets %v", offs)
	}
}

// reading is the Go form of readingSchema: avro tags for the schema
// decoder, json tags for the JSON fallback.
type reading struct {
	Sensor string  `avro:"sensor" json:"sensor"`
	Value  float64 `avro:"value" json:"value"`
}

const readingSchema = `{"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},{"name":"value","type":"double"}]}`

// valuesSource publishes its values once, then waits.
type valuesSource struct {
	values []any
	done   bool
}

func (s *valuesSource) Open(context.Context, connect.SourceEnv) error { return nil }
func (s *valuesSource) Close(context.Context) error                   { return nil }
func (s *valuesSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	if s.done {
		<-ctx.Done()
		return nil, nil
	}
	s.done = true
	recs := make([]connect.SourceRecord, len(s.values))
	for i, v := range s.values {
		recs[i] = connect.NewValueRecord("", v)
	}
	return recs, nil
}

// Decode[T] decodes avro records into a tagged struct with the schema they
// were decoded with, and falls back to JSON for records without a schema.
func TestDecodeAvroAndJSONFallback(t *testing.T) {
	b := startBroker(t)
	ctx := t.Context()
	cl := newClient(t, b)
	const avroTopic, plainTopic, subject = "/default/readings", "/default/plain-readings", "readings"
	ensureTopic(t, cl, avroTopic, 0)
	ensureTopic(t, cl, plainTopic, 0)

	var mu sync.Mutex
	got := map[string]reading{} // by sensor
	types := map[string]string{}
	var wrongClass connect.Class
	sink := connect.SinkFunc(func(ctx context.Context, rec connect.SinkRecord) error {
		r, err := connect.Decode[reading](ctx, rec)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		got[r.Sensor] = r
		types[r.Sensor] = rec.Schema.Type
		if rec.Schema.Type == "avro" && wrongClass == connect.ClassNone {
			// A Go type the record does not fit is invalid data, not a
			// transient failure.
			_, err := connect.Decode[struct {
				Sensor int `avro:"sensor"`
			}](ctx, rec)
			wrongClass = connect.ClassOf(err)
		}
		return nil
	})
	scfg := sinkConfig(b, "readings-sink", avroTopic)
	scfg.Topics[0].SchemaSubject = subject
	scfg.Topics = append(scfg.Topics, connect.SinkTopic{Topic: plainTopic, NackDelay: time.Millisecond})
	srt, err := connect.NewSinkRuntime(sink, scfg)
	must(t, err)
	sinkRun := start(t, srt)
	eventually(t, "the sink subscribed", func() bool { return srt.Ready(ctx) == nil })

	values := []any{reading{"s1", 21.5}, reading{"s2", -3}, map[string]any{"sensor": "s3", "value": 7}}
	cfg := sourceConfig(b, "readings-src", avroTopic, &connect.MemoryOffsetStore{})
	cfg.Topics[0].Schema = &schema.Spec{Subject: subject, Type: schema.Avro, Definition: []byte(readingSchema), AutoRegister: true}
	rt, err := connect.NewSourceRuntime(&valuesSource{values: values}, cfg)
	must(t, err)
	srcRun := start(t, rt)

	// Schemaless JSON on both topics (the topic with a subject passes records
	// without a schema id through), and a malformed payload.
	p, err := cl.NewProducer(ctx, plainTopic, danube.WithProducerName("json"), danube.WithReliable())
	must(t, err)
	defer p.Close()
	must(t, p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(`{"sensor":"j1","value":1.25}`)}))
	must(t, p.Send(ctx, &danube.OutgoingMessage{Payload: []byte(`{"sensor":`)}))
	p2, err := cl.NewProducer(ctx, avroTopic, danube.WithProducerName("json"), danube.WithReliable())
	must(t, err)
	defer p2.Close()
	must(t, p2.Send(ctx, &danube.OutgoingMessage{Payload: []byte(`{"sensor":"j2","value":2}`)}))

	eventually(t, "every record decoded and the malformed one dead-lettered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 5 && len(messagesOf(b, plainTopic+"-dlq")) > 0
	})
	must(t, srcRun.stop(t))
	must(t, sinkRun.stop(t))

	want := map[string]reading{"s1": {"s1", 21.5}, "s2": {"s2", -3}, "s3": {"s3", 7}, "j1": {"j1", 1.25}, "j2": {"j2", 2}}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %+v, want %+v", k, got[k], w)
		}
	}
	for _, k := range []string{"s1", "s2", "s3"} {
		if types[k] != "avro" {
			t.Errorf("%s decoded with schema type %q, want avro", k, types[k])
		}
	}
	for _, k := range []string{"j1", "j2"} {
		if types[k] != "" {
			t.Errorf("%s has schema type %q, want none", k, types[k])
		}
	}
	for _, m := range messagesOf(b, avroTopic) {
		if m.ProducerName == "readings-src" && (m.SchemaID == 0 || !strings.HasPrefix(string(m.Payload), "Obj\x01")) {
			t.Fatalf("avro message without schema or not a container: %d %q", m.SchemaID, m.Payload)
		}
	}
	if wrongClass != connect.ClassInvalidData {
		t.Errorf("decoding into a type the record does not fit: class %v, want invalid_data", wrongClass)
	}
	d := messagesOf(b, plainTopic+"-dlq")[0]
	if string(d.Payload) != `{"sensor":` || d.Attributes[connect.AttrErrorClass] != "invalid_data" {
		t.Errorf("dead-lettered %q %v", d.Payload, d.Attributes)
	}
}

// Decode[T] reports a registry it cannot reach as Retryable, a payload that
// does not match its schema as InvalidData.
func TestDecodeErrorClasses(t *testing.T) {
	b := startBroker(t)
	ctx := t.Context()
	cl := newClient(t, b)
	codecA, err := schema.NewCodec(ctx, cl.Schemas(), schema.Spec{Subject: "a", Type: schema.Avro, Definition: []byte(readingSchema), AutoRegister: true})
	must(t, err)
	codecB, err := schema.NewCodec(ctx, cl.Schemas(), schema.Spec{Subject: "b", Type: schema.String, AutoRegister: true})
	must(t, err)
	payload, err := codecA.Encode(reading{"s", 1})
	must(t, err)

	// A one-entry cache: decoding b's record evicts a's schema.
	dec := connect.SchemaDecoder(schema.NewResolver(cl.Schemas(), schema.WithCacheSize(1)))
	recA := connect.SinkRecord{Topic: "/default/a", PartitionTopic: "/default/a", Payload: payload,
		Schema: connect.SchemaInfo{ID: codecA.ID(), Version: codecA.Version()}}
	recB := connect.SinkRecord{Topic: "/default/b", PartitionTopic: "/default/b", Payload: []byte("text"),
		Schema: connect.SchemaInfo{ID: codecB.ID(), Version: codecB.Version()}}
	must(t, dec.DecodeRecord(ctx, &recA))
	if r, err := connect.Decode[reading](ctx, recA); err != nil || r != (reading{"s", 1}) {
		t.Fatalf("Decode = %+v, %v", r, err)
	}
	bad := recA
	bad.Payload = []byte("Obj\x01 truncated")
	if _, err := connect.Decode[reading](ctx, bad); connect.ClassOf(err) != connect.ClassInvalidData {
		t.Fatalf("truncated payload: %v (class %v)", err, connect.ClassOf(err))
	}
	must(t, dec.DecodeRecord(ctx, &recB))
	if s, err := connect.Decode[string](ctx, recB); err != nil || s != "text" {
		t.Fatalf("Decode string = %q, %v", s, err)
	}

	b.Close()
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := connect.Decode[reading](dctx, recA); connect.ClassOf(err) != connect.ClassRetryable {
		t.Fatalf("registry down: %v (class %v)", err, connect.ClassOf(err))
	}
}
