package registry

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

func u64(v uint64) *uint64 { return &v }
func u32(v uint32) *uint32 { return &v }

// ocfFile encodes records as an Avro object container file written with schema.
func ocfFile(t testing.TB, schema string, codec ocf.CodecName, records ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(schema, &buf, ocf.WithCodec(codec), ocf.WithEncoderSchemaCache(&avro.SchemaCache{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestValidatePolicies(t *testing.T) {
	reg, c := newRegistry(t)
	users := register(t, c, "users", "json_schema", userJSON).SchemaId
	other := register(t, c, "other", "string", "").SchemaId

	type outcome struct{ none, warn, enforce bool } // true = accepted
	cases := []struct {
		name     string
		subject  string
		schemaID *uint64
		want     outcome
	}{
		{"topic without subject, no id", "", nil, outcome{true, true, false}},
		{"topic without subject, with id", "", u64(users), outcome{true, true, false}},
		{"topic with unregistered subject", "ghost", u64(users), outcome{true, true, false}},
		{"message without schema id", "users", nil, outcome{true, true, false}},
		{"unknown schema id", "users", u64(99), outcome{true, false, false}},
		{"schema id of another subject", "users", u64(other), outcome{true, true, false}},
		{"matching schema id", "users", u64(users), outcome{true, true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for policy, want := range map[Policy]bool{PolicyNone: tc.want.none, PolicyWarn: tc.want.warn, "": tc.want.warn, PolicyEnforce: tc.want.enforce} {
				for _, payloadValidation := range []bool{false, true} {
					p := TopicPolicy{Subject: tc.subject, Policy: policy, PayloadValidation: payloadValidation}
					err := reg.Validate(t.Context(), p, tc.schemaID, u32(1), []byte(`{"name":"x"}`))
					if (err == nil) != want {
						t.Errorf("policy %q payload %v: err %v, want accepted=%v", policy, payloadValidation, err, want)
					}
				}
			}
		})
	}
	// With another subject's id under warn, the payload is not checked against either subject.
	err := reg.Validate(t.Context(), TopicPolicy{Subject: "users", Policy: PolicyWarn, PayloadValidation: true}, u64(other), nil, []byte("\xff"))
	if err != nil {
		t.Errorf("warn with foreign id: %v", err)
	}
}

func TestValidatePayloads(t *testing.T) {
	reg, c := newRegistry(t)
	ids := map[string]uint64{}
	for subject, def := range map[string][2]string{
		"str": {"string", ""}, "num": {"number", ""}, "raw": {"bytes", ""}, "pb": {"protobuf", "message M {}"},
		"json": {"json_schema", userJSON}, "avro": {"avro", avroV1},
	} {
		ids[subject] = register(t, c, subject, def[0], def[1]).SchemaId
	}
	// json v2 constrains email, which v1 leaves open.
	register(t, c, "json", "json_schema", `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"email":{"type":"string"}},"required":["name"]}`)

	num8 := binary.BigEndian.AppendUint64(nil, 42)
	user := map[string]any{"name": "ada"}
	goodOCF := ocfFile(t, avroV1, ocf.Null, user, map[string]any{"name": "bob"})
	cases := []struct {
		name, subject string
		version       *uint32
		payload       []byte
		ok            bool
		errContains   string
	}{
		{"string utf8", "str", nil, []byte("héllo"), true, ""},
		{"string invalid utf8", "str", nil, []byte{0xff, 0xfe}, false, "UTF-8"},
		{"number 4 bytes", "num", nil, []byte{0, 0, 0, 1}, true, ""},
		{"number 8 bytes", "num", nil, num8, true, ""},
		{"number 3 bytes", "num", nil, []byte{1, 2, 3}, false, "4 or 8 bytes"},
		{"number empty", "num", nil, nil, false, "4 or 8 bytes"},
		{"bytes anything", "raw", nil, []byte{0xff, 0, 1}, true, ""},
		{"protobuf not validated", "pb", nil, []byte("definitely not protobuf"), true, ""},
		{"json valid v1", "json", u32(1), []byte(`{"name":"a","email":5}`), true, ""},
		{"json invalid v2", "json", u32(2), []byte(`{"name":"a","email":5}`), false, "version 2"},
		{"json latest when version unset", "json", nil, []byte(`{"name":"a","email":5}`), false, "version 2"},
		{"json missing required", "json", u32(1), []byte(`{"age":3}`), false, "payload validation failed"},
		{"json not JSON", "json", u32(1), []byte(`{"name":`), false, "not JSON"},
		{"json unknown version", "json", u32(7), []byte(`{"name":"a"}`), false, "version 7"},
		{"avro container", "avro", u32(1), goodOCF, true, ""},
		{"avro container deflate", "avro", u32(1), ocfFile(t, avroV1, ocf.Deflate, user), true, ""},
		{"avro container without records", "avro", u32(1), ocfFile(t, avroV1, ocf.Null), true, ""},
		{"avro writer with extra field", "avro", u32(1), ocfFile(t, avroAddNoDef, ocf.Null, map[string]any{"name": "a", "age": 3}), true, ""},
		{"avro unreadable writer", "avro", u32(1), ocfFile(t, avroTypeChange, ocf.Null, map[string]any{"name": 7}), false, "cannot read"},
		{"avro bare datum", "avro", u32(1), []byte{0x06, 'a', 'd', 'a'}, false, "object container"},
		{"avro truncated", "avro", u32(1), goodOCF[:len(goodOCF)-5], false, "payload validation failed"},
		{"avro trailing garbage", "avro", u32(1), append(bytes.Clone(goodOCF), 1, 2, 3), false, "payload validation failed"},
		{"avro snappy unsupported", "avro", u32(1), ocfFile(t, avroV1, ocf.Snappy, user), false, "codec"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, policy := range []Policy{PolicyWarn, PolicyEnforce} {
				p := TopicPolicy{Subject: tc.subject, Policy: policy, PayloadValidation: true}
				err := reg.Validate(t.Context(), p, u64(ids[tc.subject]), tc.version, tc.payload)
				if (err == nil) != tc.ok {
					t.Fatalf("%s: err %v, want ok=%v", policy, err, tc.ok)
				}
				if err != nil && !strings.Contains(err.Error(), tc.errContains) {
					t.Fatalf("%s: error %q lacks %q", policy, err, tc.errContains)
				}
				// Without payload validation every payload passes.
				p.PayloadValidation = false
				if err := reg.Validate(t.Context(), p, u64(ids[tc.subject]), tc.version, tc.payload); err != nil {
					t.Fatalf("%s without payload validation: %v", policy, err)
				}
			}
		})
	}
}

func TestValidateAfterDelete(t *testing.T) {
	reg, c := newRegistry(t)
	id := register(t, c, "s", "string", "").SchemaId
	if err := reg.deleteVersion("s", 1); err != nil {
		t.Fatal(err)
	}
	p := TopicPolicy{Subject: "s", Policy: PolicyEnforce, PayloadValidation: true}
	if err := reg.Validate(t.Context(), p, u64(id), u32(1), []byte("x")); err == nil {
		t.Fatal("deleted version validated")
	}
	if err := reg.Validate(t.Context(), p, u64(id), nil, []byte("x")); err == nil {
		t.Fatal("subject without versions validated")
	}
}

func BenchmarkValidate(b *testing.B) {
	reg, err := Open("", nil)
	if err != nil {
		b.Fatal(err)
	}
	mustRegister := func(subject string, typ SchemaType, def string) uint64 {
		resp, err := reg.register(&schemapb.RegisterSchemaRequest{Subject: subject, SchemaType: string(typ), SchemaDefinition: []byte(def)})
		if err != nil {
			b.Fatal(err)
		}
		return resp.SchemaId
	}
	jsonID := mustRegister("json", TypeJSONSchema, userJSON)
	avroID := mustRegister("avro", TypeAvro, avroV1)
	jsonPayload := []byte(`{"name":"ada","age":36}`)
	avroPayload := ocfFile(b, avroV1, ocf.Null, map[string]any{"name": "ada"})
	for _, bc := range []struct {
		name    string
		policy  TopicPolicy
		id      uint64
		payload []byte
	}{
		{"none", TopicPolicy{Subject: "json", Policy: PolicyNone}, jsonID, jsonPayload},
		{"warn", TopicPolicy{Subject: "json", Policy: PolicyWarn}, jsonID, jsonPayload},
		{"enforce", TopicPolicy{Subject: "json", Policy: PolicyEnforce}, jsonID, jsonPayload},
		{"enforce-json-payload", TopicPolicy{Subject: "json", Policy: PolicyEnforce, PayloadValidation: true}, jsonID, jsonPayload},
		{"enforce-avro-ocf", TopicPolicy{Subject: "avro", Policy: PolicyEnforce, PayloadValidation: true}, avroID, avroPayload},
	} {
		b.Run(bc.name, func(b *testing.B) {
			id, version := bc.id, uint32(1)
			b.ReportAllocs()
			for b.Loop() {
				if err := reg.Validate(b.Context(), bc.policy, &id, &version, bc.payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestConcurrentUse registers, deletes and validates from several goroutines at once (run with
// -race).
func TestConcurrentUse(t *testing.T) {
	reg, c := newRegistry(t)
	id := register(t, c, "s", "json_schema", userJSON).SchemaId
	if _, err := c.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "s", CompatibilityMode: "none"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 50 {
				var err error
				switch w {
				case 0:
					_, err = reg.register(&schemapb.RegisterSchemaRequest{Subject: "s", SchemaType: "json_schema",
						SchemaDefinition: []byte(fmt.Sprintf(`{"type":"object","properties":{"f%d":{"type":"string"}}}`, i))})
				case 1:
					_ = reg.deleteVersion("s", uint32(i))
				default:
					_ = reg.Validate(t.Context(), TopicPolicy{Subject: "s", Policy: PolicyEnforce, PayloadValidation: true},
						&id, nil, []byte(`{"name":"x"}`))
					_, err = reg.ListSubjects(t.Context(), &schemapb.ListSubjectsRequest{})
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
