package registry

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

const (
	avroV1          = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
	avroAddDefault  = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	avroAddNoDef    = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}`
	avroTypeChange  = `{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}`
	avroPromotion   = `{"type":"record","name":"P","fields":[{"name":"n","type":"int"}]}`
	avroPromotedLng = `{"type":"record","name":"P","fields":[{"name":"n","type":"long"}]}`
)

// jsonObj builds a top-level object schema from property types and required names.
func jsonObj(props map[string]string, required ...string) string {
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	first := true
	for _, name := range sortedKeys(props) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"` + name + `":{"type":"` + props[name] + `"}`)
	}
	b.WriteString(`},"required":[`)
	for i, r := range required {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + r + `"`)
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestCompatibilityMatrix(t *testing.T) {
	base := jsonObj(map[string]string{"name": "string", "age": "integer"}, "name")
	cases := []struct {
		name, typ, old, candidate string
		backward, forward, full   bool
		errContains               string // of the first failing check, if any
	}{
		{"json add optional field", "json_schema", base, jsonObj(map[string]string{"name": "string", "age": "integer", "email": "string"}, "name"), true, true, true, ""},
		{"json remove required field", "json_schema", base, jsonObj(map[string]string{"age": "integer"}), false, true, false, "required field 'name' was removed"},
		{"json optional becomes required", "json_schema", base, jsonObj(map[string]string{"name": "string", "age": "integer"}, "name", "age"), false, true, false, "optional field 'age' became required"},
		{"json type change", "json_schema", base, jsonObj(map[string]string{"name": "string", "age": "string"}, "name"), false, false, false, "field 'age' changed type"},
		{"json new required unknown field", "json_schema", base, jsonObj(map[string]string{"name": "string", "age": "integer", "email": "string"}, "name", "email"), true, false, false, "new required field 'email'"},
		{"json remove optional field", "json_schema", base, jsonObj(map[string]string{"name": "string"}, "name"), true, true, true, ""},
		{"json non-object schemas", "json_schema", `true`, `{"type":"string"}`, true, true, true, ""},
		{"avro add field with default", "avro", avroV1, avroAddDefault, true, true, true, ""},
		{"avro add field without default", "avro", avroV1, avroAddNoDef, false, true, false, "backward"},
		{"avro remove field without default", "avro", avroAddNoDef, avroV1, true, false, false, "forward"},
		{"avro type change", "avro", avroV1, avroTypeChange, false, false, false, "cannot read"},
		{"avro int to long", "avro", avroPromotion, avroPromotedLng, true, false, false, "forward"},
		{"protobuf anything", "protobuf", "message A {}", "message B { int32 x = 1; }", true, true, true, ""},
		{"string", "string", "", "", true, true, true, ""},
		{"bytes", "bytes", "", "", true, true, true, ""},
		{"number", "number", "", "", true, true, true, ""},
	}
	_, c := newRegistry(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			subject := "compat-" + string(rune('a'+i))
			register(t, c, subject, tc.typ, tc.old)
			for mode, want := range map[string]bool{"backward": tc.backward, "forward": tc.forward, "full": tc.full, "none": true} {
				resp, err := c.CheckCompatibility(ctxT(t), &schemapb.CheckCompatibilityRequest{
					Subject: subject, SchemaType: tc.typ, NewSchemaDefinition: []byte(tc.candidate), CompatibilityMode: proto.String(mode),
				})
				if err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				if resp.IsCompatible != want || (len(resp.Errors) == 0) != want {
					t.Errorf("%s: compatible=%v errors=%q, want compatible=%v", mode, resp.IsCompatible, resp.Errors, want)
				}
				if !want && tc.errContains != "" && !strings.Contains(strings.Join(resp.Errors, "\n"), tc.errContains) {
					t.Errorf("%s: errors %q lack %q", mode, resp.Errors, tc.errContains)
				}
			}
		})
	}
}

func TestFullReportsFirstFailingSideOnly(t *testing.T) {
	// Backward and forward both fail; full reports only the backward errors.
	old := jsonObj(map[string]string{"name": "string", "age": "integer"}, "name")
	cand := jsonObj(map[string]string{"age": "integer", "email": "string"}, "email")
	errs := compatibilityErrors(CompatibilityFull, mustDef(t, TypeJSONSchema, old), mustDef(t, TypeJSONSchema, cand))
	if len(errs) != 1 || !strings.Contains(errs[0], "'name' was removed") {
		t.Fatalf("full errors: %q", errs)
	}
}

func mustDef(t testing.TB, typ SchemaType, raw string) *definition {
	t.Helper()
	d, err := parseDefinition(typ, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRegisterChecksCompatibility(t *testing.T) {
	_, c := newRegistry(t)
	register(t, c, "u", "avro", avroV1)
	// Default mode backward: a field without default is refused, with a default accepted.
	_, err := c.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{Subject: "u", SchemaType: "avro", SchemaDefinition: []byte(avroAddNoDef)})
	wantCode(t, err, codes.Internal, "Failed to register schema: schema is not backward compatible")
	if r := register(t, c, "u", "avro", avroAddDefault); r.Version != 2 {
		t.Fatalf("compatible register: %v", r)
	}
	// The check is against the latest version only: v3 drops age again, which v2 (its latest)
	// reads thanks to the default.
	if r := register(t, c, "u", "avro", avroV1); r.IsNewVersion {
		t.Fatalf("v1 again should dedup: %v", r)
	}
	// A differing type is refused unless the mode is none.
	_, err = c.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{Subject: "u", SchemaType: "json_schema", SchemaDefinition: []byte(`{}`)})
	wantCode(t, err, codes.Internal, "Failed to register schema: ")
	if _, err := c.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "u", CompatibilityMode: "none"}); err != nil {
		t.Fatal(err)
	}
	if r := register(t, c, "u", "json_schema", `{}`); r.Version != 3 {
		t.Fatalf("register under mode none: %v", r)
	}
	if r := register(t, c, "u", "avro", avroTypeChange); r.Version != 4 {
		t.Fatalf("register under mode none: %v", r)
	}
}

func TestCheckCompatibilityErrors(t *testing.T) {
	_, c := newRegistry(t)
	register(t, c, "u", "avro", avroV1)
	for _, req := range []*schemapb.CheckCompatibilityRequest{
		{Subject: "missing", SchemaType: "avro", NewSchemaDefinition: []byte(avroV1)},
		{Subject: "u", SchemaType: "xml", NewSchemaDefinition: []byte(avroV1)},
		{Subject: "u", SchemaType: "avro", NewSchemaDefinition: []byte(`{"type":"nope"}`)},
	} {
		_, err := c.CheckCompatibility(ctxT(t), req)
		wantCode(t, err, codes.Internal, "Failed to check compatibility: ")
	}
	// An unparseable mode override is ignored: the subject's backward mode applies.
	resp, err := c.CheckCompatibility(ctxT(t), &schemapb.CheckCompatibilityRequest{
		Subject: "u", SchemaType: "avro", NewSchemaDefinition: []byte(avroAddNoDef), CompatibilityMode: proto.String("whatever"),
	})
	if err != nil || resp.IsCompatible {
		t.Fatalf("override ignored: %v %v", resp, err)
	}
}
