package schema

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2/ocf"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// These tests run the package against the devbroker's schema registry over
// gRPC on loopback.

const brokerTimeout = 20 * time.Second

var topicSeq atomic.Int64

type brokerEnv struct {
	client *danube.Client
	reg    *danube.SchemaRegistry
}

func startEnv(t *testing.T) *brokerEnv {
	t.Helper()
	b, err := devbroker.Start(context.Background(), devbroker.Config{})
	if err != nil {
		t.Fatalf("start devbroker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	c, err := danube.NewClient(context.Background(), b.URL(),
		danube.WithRetryPolicy(danube.RetryPolicy{MaxRetries: 5, Backoff: danube.BackoffLinear, Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &brokerEnv{client: c, reg: c.Schemas()}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), brokerTimeout)
	t.Cleanup(cancel)
	return ctx
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, topicSeq.Add(1))
}

// publish sends each payload through a producer bound to the codec's
// schema on topic, with the topic's validation policy set as given, and
// returns what a consumer receives.
func (e *brokerEnv) publish(t *testing.T, topic string, c *Codec, policy danube.ValidationPolicy, payloadValidation bool, payloads ...[]byte) ([]*danube.Message, []error) {
	t.Helper()
	ctx := testCtx(t)
	p, err := e.client.NewProducer(ctx, topic, danube.WithSchema(c.SchemaRef()), danube.WithReliable())
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	if err := e.reg.ConfigureTopic(ctx, topic, c.Subject(), policy, payloadValidation); err != nil {
		t.Fatalf("configure topic: %v", err)
	}
	cons, err := e.client.NewConsumer(ctx, topic, "sub", danube.WithSubscriptionType(danube.Exclusive))
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cons.Close()
	var errs []error
	sent := 0
	for _, pl := range payloads {
		err := p.Send(ctx, &danube.OutgoingMessage{Payload: pl})
		errs = append(errs, err)
		if err == nil {
			sent++
		}
	}
	var got []*danube.Message
	for range sent {
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if err := cons.Ack(ctx, m); err != nil {
			t.Fatalf("ack: %v", err)
		}
		got = append(got, m)
	}
	return got, errs
}

func TestBrokerEveryTypeBothWays(t *testing.T) {
	env := startEnv(t)
	r := NewResolver(env.reg)
	cases := []struct {
		name  string
		spec  Spec
		value any
		want  any
	}{
		{"bytes", Spec{Type: Bytes}, []byte{0, 1, 0xff}, []byte{0, 1, 0xff}},
		{"string", Spec{Type: String}, "héllo", "héllo"},
		{"number-int64", Spec{Type: "int64"}, int64(-42), int64(-42)},
		{"number-float64", Spec{Type: "double", NumberFormat: NumberFloat64}, 23.5, 23.5},
		{"json", Spec{Type: "json", Definition: []byte(orderSchema)}, order{ID: "a", Qty: 2}, map[string]any{"id": "a", "qty": 2.0}},
		{"avro-ocf", Spec{Type: Avro, Definition: []byte(userSchema)}, sampleUser(), sampleUserNative()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			topic := "/default/" + uniqueName("every-")
			tc.spec.Topic, tc.spec.AutoRegister = topic, true
			c, err := NewCodec(ctx, env.reg, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Encode(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			// Enforced policy with payload validation: what the real broker
			// checks is what we send.
			msgs, errs := env.publish(t, topic, c, danube.ValidationEnforce, true, b)
			if errs[0] != nil {
				t.Fatalf("broker refused our %s payload: %v", tc.name, errs[0])
			}
			m := msgs[0]
			if m.SchemaID != c.ID() || m.SchemaVersion != c.Version() {
				t.Fatalf("message schema %d/%d, codec %d/%d", m.SchemaID, m.SchemaVersion, c.ID(), c.Version())
			}
			dr := r
			if tc.spec.NumberFormat == NumberFloat64 {
				dr = NewResolver(env.reg, WithNumberFormat(NumberFloat64))
			}
			d, err := dr.Decode(ctx, m.SchemaID, m.SchemaVersion, m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Value, tc.want) || d.Schema.Subject != c.Subject() {
				t.Fatalf("decoded %#v (subject %q), want %#v", d.Value, d.Schema.Subject, tc.want)
			}
		})
	}
}

func TestBrokerPayloadValidationFacts(t *testing.T) {
	env := startEnv(t)
	ctx := testCtx(t)
	topic := "/default/" + uniqueName("facts-")
	c, err := NewCodec(ctx, env.reg, Spec{Topic: topic, Type: Avro, Definition: []byte(userSchema), AutoRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	ocfPayload, _ := c.Encode(sampleUser())
	bin := mustSerde(t, Avro, userSchema, serdeOptions{avro: AvroBinary})
	binPayload, _ := bin.encode(sampleUser())
	js := mustSerde(t, Avro, userSchema, serdeOptions{avro: AvroJSON})
	jsonPayload, _ := js.encode(sampleUser())

	// With payload validation on, only the object container passes.
	_, errs := env.publish(t, topic, c, danube.ValidationEnforce, true, ocfPayload, binPayload, jsonPayload)
	if errs[0] != nil || errs[1] == nil || errs[2] == nil {
		t.Fatalf("payload validation: ocf %v, binary %v, json %v", errs[0], errs[1], errs[2])
	}

	// Without it, every form is carried, and the resolver reads each one.
	topic2 := "/default/" + uniqueName("facts-")
	msgs, errs := env.publish(t, topic2, c, danube.ValidationWarn, false, ocfPayload, binPayload, jsonPayload)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	r := NewResolver(env.reg)
	for i, m := range msgs {
		d, err := r.Decode(ctx, m.SchemaID, m.SchemaVersion, m.Payload)
		if err != nil || !reflect.DeepEqual(d.Value, sampleUserNative()) {
			t.Fatalf("form %d: %#v %v", i, d, err)
		}
	}
}

func TestBrokerInteropRustJSONAndForeignContainers(t *testing.T) {
	env := startEnv(t)
	ctx := testCtx(t)
	topic := "/default/" + uniqueName("interop-")
	c, err := NewCodec(ctx, env.reg, Spec{Topic: topic, Type: Avro, Definition: []byte(userSchema), AutoRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	// The Rust runtime's "avro": serde_json text.
	rust := []byte(`{"user_id":"r1","action":"login","timestamp":1700000000000,"metadata":"m"}`)
	// A container from another Avro library, deflate-compressed.
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(userSchema, &buf, ocf.WithCodec(ocf.Deflate))
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(sampleUser()); err != nil {
		t.Fatal(err)
	}
	_ = enc.Close()

	// The foreign container passes the broker's payload validation too.
	if _, errs := env.publish(t, "/default/"+uniqueName("interop-v-"), c, danube.ValidationEnforce, true, buf.Bytes()); errs[0] != nil {
		t.Fatalf("deflate container refused: %v", errs[0])
	}
	msgs, errs := env.publish(t, topic, c, danube.ValidationWarn, false, rust, buf.Bytes())
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	r := NewResolver(env.reg)
	var u userEvent
	if err := r.DecodeInto(ctx, msgs[0].SchemaID, msgs[0].SchemaVersion, msgs[0].Payload, &u); err != nil {
		t.Fatal(err)
	}
	if u.UserID != "r1" || u.Metadata == nil || *u.Metadata != "m" || u.Timestamp != 1700000000000 {
		t.Fatalf("rust json: %+v", u)
	}
	got, err := DecodeAs[userEvent](ctx, r, msgs[1].SchemaID, msgs[1].SchemaVersion, msgs[1].Payload)
	if err != nil || !reflect.DeepEqual(got, sampleUser()) {
		t.Fatalf("foreign container: %+v %v", got, err)
	}
}

const (
	avroV1 = `{"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},{"name":"value","type":"double"}]}`
	// avroV2 adds a field with a default: backward compatible.
	avroV2 = `{"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},{"name":"value","type":"double"},{"name":"unit","type":"string","default":"C"}]}`
	// avroBad adds a field without a default: new readers cannot read old data.
	avroBad = `{"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},{"name":"value","type":"double"},{"name":"unit","type":"string","default":"C"},{"name":"site","type":"string"}]}`
)

func TestBrokerEvolutionAndVersions(t *testing.T) {
	env := startEnv(t)
	ctx := testCtx(t)
	subject := uniqueName("readings-")
	spec := Spec{Subject: subject, Type: Avro, Definition: []byte(avroV1), AutoRegister: true, AvroEncoding: AvroBinary}

	c1, err := NewCodec(ctx, env.reg, spec)
	if err != nil || c1.Version() != 1 {
		t.Fatalf("v1: %v", err)
	}
	// Whitespace and key order do not make a new version.
	spec.Definition = []byte("{\n \"name\": \"Reading\", \"type\": \"record\",\n \"fields\": [{\"type\":\"string\",\"name\":\"sensor\"},{\"name\":\"value\",\"type\":\"double\"}]}")
	if c, err := NewCodec(ctx, env.reg, spec); err != nil || c.Version() != 1 {
		t.Fatalf("relayout: %v", err)
	}
	vs, _ := env.reg.Versions(ctx, subject)
	if len(vs) != 1 {
		t.Fatalf("relayout registered a version: %+v", vs)
	}

	spec.Definition = []byte(avroV2)
	c2, err := NewCodec(ctx, env.reg, spec)
	if err != nil || c2.Version() != 2 || c2.ID() != c1.ID() {
		t.Fatalf("compatible evolution: %v", err)
	}
	spec.Definition = []byte(avroBad)
	_, err = NewCodec(ctx, env.reg, spec)
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), subject) {
		t.Fatalf("incompatible evolution: %v", err)
	}
	t.Logf("incompatible evolution reports: %v", err)
	if vs, _ := env.reg.Versions(ctx, subject); len(vs) != 2 {
		t.Fatalf("incompatible definition registered: %+v", vs)
	}

	// Version strategies, resolved as both official clients do.
	spec.Definition = []byte(avroV2)
	for _, tc := range []struct {
		v    VersionStrategy
		want uint32
	}{{danube.Latest(), 2}, {danube.Pinned(1), 1}, {danube.Pinned(2), 2}, {danube.Minimum(1), 2}, {danube.Minimum(2), 2}} {
		spec.Version = tc.v
		c, err := NewCodec(ctx, env.reg, spec)
		if err != nil || c.Version() != tc.want {
			t.Fatalf("%s: %v", tc.v, err)
		}
	}
	for _, v := range []VersionStrategy{danube.Pinned(3), danube.Minimum(3)} {
		spec.Version = v
		if _, err := NewCodec(ctx, env.reg, spec); !errors.Is(err, ErrVersionUnavailable) {
			t.Fatalf("%s: %v", v, err)
		}
	}

	// A v1 message decodes with v1, a v2 one with v2.
	spec.Version = danube.Pinned(1)
	c1, _ = NewCodec(ctx, env.reg, spec)
	b1, err := c1.Encode(map[string]any{"sensor": "s", "value": 1.5, "unit": "ignored by v1"})
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := c2.Encode(map[string]any{"sensor": "s", "value": 2.5})
	r := NewResolver(env.reg)
	d1, err := r.Decode(ctx, c1.ID(), 1, b1)
	if err != nil || !reflect.DeepEqual(d1.Value, map[string]any{"sensor": "s", "value": 1.5}) {
		t.Fatalf("v1: %#v %v", d1, err)
	}
	d2, err := r.Decode(ctx, c2.ID(), 2, b2)
	if err != nil || !reflect.DeepEqual(d2.Value, map[string]any{"sensor": "s", "value": 2.5, "unit": "C"}) {
		t.Fatalf("v2: %#v %v", d2, err)
	}

	// Without auto-register a changed definition is an error, not a version.
	if _, err := NewCodec(ctx, env.reg, Spec{Subject: subject, Type: Avro, Definition: []byte(avroBad)}); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("no auto-register: %v", err)
	}
	if _, err := NewCodec(ctx, env.reg, Spec{Subject: uniqueName("missing-"), Type: String}); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("missing subject: %v", err)
	}
}

// countingRegistry counts the lookups the resolver makes.
type countingRegistry struct {
	registry
	gets atomic.Int64
}

func (c *countingRegistry) Get(ctx context.Context, id uint64, version uint32) (*danube.Schema, error) {
	c.gets.Add(1)
	return c.registry.Get(ctx, id, version)
}

func TestBrokerResolverCache(t *testing.T) {
	env := startEnv(t)
	ctx := testCtx(t)
	var ids []uint64
	for range 4 {
		res, err := env.reg.Register(ctx, uniqueName("cache-"), danube.SchemaJSON, []byte(orderSchema))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	reg := &countingRegistry{registry: env.reg}
	r := newResolver(reg, WithCacheSize(2))
	payload := []byte(`{"id":"a","qty":1}`)

	// Concurrent misses on one key: one lookup.
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := r.Decode(ctx, ids[0], 1, payload)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.gets.Load(); n != 1 {
		t.Fatalf("32 concurrent decodes made %d lookups, want 1", n)
	}
	before := reg.gets.Load()
	for range 100 {
		if _, err := r.Decode(ctx, ids[0], 1, payload); err != nil {
			t.Fatal(err)
		}
	}
	if reg.gets.Load() != before {
		t.Fatal("cached schema looked up again")
	}
	// Bounded: three more schemas evict.
	for _, id := range ids[1:] {
		if _, err := r.Decode(ctx, id, 1, payload); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.Stats(); st.Size != 2 || st.Evictions != 2 {
		t.Fatalf("stats: %+v", st)
	}
	// Unknown schema: invalid data; bad payload: invalid data.
	if _, err := r.Decode(ctx, 987654, 1, payload); !errors.Is(err, ErrUnknownSchema) || !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("unknown schema: %v", err)
	}
	if _, err := r.Decode(ctx, ids[0], 1, []byte(`{"id":"a","qty":0}`)); !errors.Is(err, ErrInvalidPayload) || !strings.Contains(err.Error(), "/qty") {
		t.Fatalf("invalid payload: %v", err)
	}
}
