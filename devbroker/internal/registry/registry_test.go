package registry

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

const (
	userJSON = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name"]}`
	// userJSONSpaced is userJSON with other whitespace and key order.
	userJSONSpaced = "{\n  \"required\": [\"name\"],\n  \"type\": \"object\",\n  \"properties\": {\n    \"age\": {\"type\": \"integer\"},\n    \"name\": {\"type\": \"string\"}\n  }\n}\n"

	userAvro = `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`
)

func TestRegisterIDsVersionsAndDedup(t *testing.T) {
	_, c := newRegistry(t)
	r1 := register(t, c, "users", "json_schema", userJSON)
	if r1.SchemaId != 1 || r1.Version != 1 || !r1.IsNewVersion || !strings.HasPrefix(r1.Fingerprint, "sha256:") {
		t.Fatalf("first register: %v", r1)
	}
	// Same schema with other whitespace and key order: not a new version.
	r1b := register(t, c, "users", "json", userJSONSpaced)
	if r1b.SchemaId != 1 || r1b.Version != 1 || r1b.IsNewVersion || r1b.Fingerprint != r1.Fingerprint {
		t.Fatalf("dedup register: %v", r1b)
	}
	r2 := register(t, c, "users", "JSON_SCHEMA", `{"type":"object","properties":{"name":{"type":"string"},"email":{"type":"string"}},"required":["name"]}`)
	if r2.SchemaId != 1 || r2.Version != 2 || !r2.IsNewVersion || r2.Fingerprint == r1.Fingerprint {
		t.Fatalf("second version: %v", r2)
	}
	// Re-registering version 1 dedups against it, not the latest.
	if again := register(t, c, "users", "json_schema", userJSON); again.Version != 1 || again.IsNewVersion {
		t.Fatalf("dedup of older version: %v", again)
	}
	other := register(t, c, "other", "avro", userAvro)
	if other.SchemaId != 2 || other.Version != 1 {
		t.Fatalf("second subject: %v", other)
	}
	for typ, fp := range map[string]string{"bytes": "bytes", "string": "string", "int64": "number", "DOUBLE": "number"} {
		if r := register(t, c, "prim-"+typ, typ, "ignored"); r.Fingerprint != fp {
			t.Errorf("%s fingerprint %q, want %q", typ, r.Fingerprint, fp)
		}
	}
	proto1 := register(t, c, "p", "proto", "syntax = \"proto3\"; message M {}")
	if proto2 := register(t, c, "p", "protobuf", "syntax = \"proto3\";  message M {}"); proto2.Fingerprint == proto1.Fingerprint {
		t.Error("protobuf fingerprints must cover the raw text")
	}
}

func TestRegisterFailures(t *testing.T) {
	_, c := newRegistry(t)
	register(t, c, "users", "json_schema", userJSON)
	for _, tc := range []struct {
		name, subject, typ, def string
	}{
		{"unknown type", "s", "xml", "<a/>"},
		{"empty subject", "", "string", ""},
		{"json not JSON", "s", "json_schema", `{"type":`},
		{"json not a schema", "s", "json_schema", `{"type":5}`},
		{"json trailing data", "s", "json_schema", `{} {}`},
		{"avro does not parse", "s", "avro", `{"type":"record","name":"X"}`},
		{"protobuf not UTF-8", "s", "protobuf", "\xff\xfe"},
		{"incompatible", "users", "json_schema", `{"type":"object","properties":{"age":{"type":"integer"}}}`},
		{"type change", "users", "string", ""},
		{"external ref", "s", "json_schema", `{"$ref":"file:///etc/passwd"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{
				Subject: tc.subject, SchemaType: tc.typ, SchemaDefinition: []byte(tc.def),
			})
			wantCode(t, err, codes.Internal, "Failed to register schema: ")
		})
	}
}

func TestGetSchemaAndEnvelope(t *testing.T) {
	_, c := newRegistry(t)
	before := time.Now().Unix()
	const protoText = "syntax = \"proto3\";\nmessage Order { string id = 1; }"
	cases := []struct {
		subject, typ, def, wantType string
		envelope                    any
	}{
		{"b", "bytes", "", "bytes", "Bytes"},
		{"s", "string", "", "string", "String"},
		{"n", "float", "", "number", "Number"},
		{"a", "avro", userAvro, "avro", map[string]any{"Avro": map[string]any{"raw_schema": userAvro}}},
		{"j", "json", userJSONSpaced, "json_schema", map[string]any{"JsonSchema": map[string]any{"raw_schema": userJSONSpaced}}},
		{"p", "protobuf", protoText, "protobuf", map[string]any{"Protobuf": map[string]any{"raw_proto": protoText, "message_name": "DefaultMessage"}}},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			reg, err := c.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{
				Subject: tc.subject, SchemaType: tc.typ, SchemaDefinition: []byte(tc.def),
				Description: "d-" + tc.subject, CreatedBy: "me", Tags: []string{"t1", "t2"},
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: reg.SchemaId})
			if err != nil {
				t.Fatal(err)
			}
			if got.SchemaId != reg.SchemaId || got.Version != 1 || got.Subject != tc.subject || got.SchemaType != tc.wantType ||
				got.Description != "d-"+tc.subject || got.CreatedBy != "me" || !slices.Equal(got.Tags, []string{"t1", "t2"}) ||
				got.Fingerprint != reg.Fingerprint || got.CompatibilityMode != "backward" {
				t.Fatalf("GetSchema: %v", got)
			}
			if got.CreatedAt < uint64(before) || got.CreatedAt > uint64(time.Now().Unix()+1) {
				t.Fatalf("created_at %d is not Unix seconds of now", got.CreatedAt)
			}
			var env any
			if err := json.Unmarshal(got.SchemaDefinition, &env); err != nil {
				t.Fatalf("envelope %q: %v", got.SchemaDefinition, err)
			}
			want := tc.envelope
			if m, ok := want.(map[string]any); ok { // the inner fingerprint is the registered one
				for _, inner := range m {
					inner.(map[string]any)["fingerprint"] = reg.Fingerprint
				}
			}
			wantJSON, _ := json.Marshal(want)
			gotJSON, _ := json.Marshal(env)
			if string(gotJSON) != string(wantJSON) {
				t.Fatalf("envelope\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}

	_, err := c.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: 99})
	wantCode(t, err, codes.NotFound, "Schema not found for ID: 99")
	_, err = c.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: 1, Version: proto.Uint32(2)})
	wantCode(t, err, codes.NotFound, "Schema not found for ID: 1")
	_, err = c.GetLatestSchema(ctxT(t), &schemapb.GetLatestSchemaRequest{Subject: "nope"})
	wantCode(t, err, codes.NotFound, "Schema not found for subject: nope")
}

func TestVersionsModesDeleteAndSubjects(t *testing.T) {
	_, c := newRegistry(t)
	v1 := register(t, c, "users", "json_schema", userJSON)
	v2JSON := `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"email":{"type":"string"}},"required":["name"]}`
	register(t, c, "users", "json_schema", v2JSON)
	v3JSON := `{"type":"object","properties":{"name":{"type":"string"},"nick":{"type":"string"}},"required":["name"]}`
	register(t, c, "users", "json_schema", v3JSON)

	lv, err := c.ListVersions(ctxT(t), &schemapb.ListVersionsRequest{Subject: "users"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.Versions) != 3 {
		t.Fatalf("versions: %v", lv.Versions)
	}
	for i, v := range lv.Versions {
		if v.Version != uint32(i+1) || v.SchemaId != v1.SchemaId || v.CreatedBy != "test" || v.Fingerprint == "" {
			t.Fatalf("version %d: %v", i, v)
		}
	}
	_, err = c.ListVersions(ctxT(t), &schemapb.ListVersionsRequest{Subject: "nope"})
	wantCode(t, err, codes.NotFound, "Subject not found: nope")

	// Compatibility mode.
	sm, err := c.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "users", CompatibilityMode: "FULL"})
	if err != nil || !sm.Success {
		t.Fatalf("set mode: %v %v", sm, err)
	}
	latest, err := c.GetLatestSchema(ctxT(t), &schemapb.GetLatestSchemaRequest{Subject: "users"})
	if err != nil || latest.CompatibilityMode != "full" || latest.Version != 3 {
		t.Fatalf("latest after set mode: %v %v", latest, err)
	}
	_, err = c.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "users", CompatibilityMode: "sideways"})
	wantCode(t, err, codes.InvalidArgument, "Invalid compatibility mode: sideways")
	_, err = c.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "nope", CompatibilityMode: "none"})
	wantCode(t, err, codes.Internal, "Failed to set compatibility mode: ")

	// Delete the latest version: it is gone everywhere.
	del, err := c.DeleteSchemaVersion(ctxT(t), &schemapb.DeleteSchemaVersionRequest{Subject: "users", Version: 3})
	if err != nil || !del.Success || del.Message == "" {
		t.Fatalf("delete: %v %v", del, err)
	}
	latest, err = c.GetLatestSchema(ctxT(t), &schemapb.GetLatestSchemaRequest{Subject: "users"})
	if err != nil || latest.Version != 2 {
		t.Fatalf("latest after delete: %v %v", latest, err)
	}
	if got, err := c.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: v1.SchemaId}); err != nil || got.Version != 2 {
		t.Fatalf("GetSchema latest after delete: %v %v", got, err)
	}
	_, err = c.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: v1.SchemaId, Version: proto.Uint32(3)})
	wantCode(t, err, codes.NotFound, "Schema not found for ID: ")
	lv, _ = c.ListVersions(ctxT(t), &schemapb.ListVersionsRequest{Subject: "users"})
	if len(lv.Versions) != 2 {
		t.Fatalf("versions after delete: %v", lv.Versions)
	}
	// The deleted definition no longer dedups; numbers are not reused. Mode is full, and v3 is
	// fully compatible with v2 (nick and email are optional).
	if r := register(t, c, "users", "json_schema", v3JSON); !r.IsNewVersion || r.Version != 4 {
		t.Fatalf("re-register deleted version: %v", r)
	}
	_, err = c.DeleteSchemaVersion(ctxT(t), &schemapb.DeleteSchemaVersionRequest{Subject: "users", Version: 3})
	wantCode(t, err, codes.Internal, "Failed to delete schema version: ")
	_, err = c.DeleteSchemaVersion(ctxT(t), &schemapb.DeleteSchemaVersionRequest{Subject: "nope", Version: 1})
	wantCode(t, err, codes.Internal, "Failed to delete schema version: ")

	// ListSubjects, including a subject whose versions were all deleted.
	register(t, c, "empty", "avro", userAvro)
	if _, err := c.DeleteSchemaVersion(ctxT(t), &schemapb.DeleteSchemaVersionRequest{Subject: "empty", Version: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetLatestSchema(ctxT(t), &schemapb.GetLatestSchemaRequest{Subject: "empty"})
	wantCode(t, err, codes.NotFound, "Schema not found for subject: empty")
	ls, err := c.ListSubjects(ctxT(t), &schemapb.ListSubjectsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []*schemapb.SubjectSummary{
		{Subject: "empty", SchemaType: "bytes", LatestVersion: 0, CompatibilityMode: "backward", SchemaId: 2},
		{Subject: "users", SchemaType: "json_schema", LatestVersion: 4, CompatibilityMode: "full", SchemaId: 1},
	}
	if len(ls.Subjects) != len(want) {
		t.Fatalf("subjects: %v", ls.Subjects)
	}
	for i := range want {
		if !proto.Equal(ls.Subjects[i], want[i]) {
			t.Fatalf("subject %d: got %v want %v", i, ls.Subjects[i], want[i])
		}
	}
	// An emptied subject takes new versions without a compatibility check.
	if r := register(t, c, "empty", "string", ""); r.Version != 2 || r.SchemaId != 2 {
		t.Fatalf("register into emptied subject: %v", r)
	}
}

func TestVocabulary(t *testing.T) {
	for in, want := range map[string]SchemaType{
		"bytes": TypeBytes, "String": TypeString, "NUMBER": TypeNumber, "int64": TypeNumber, "int": TypeNumber,
		"float": TypeNumber, "Double": TypeNumber, "avro": TypeAvro, "json_schema": TypeJSONSchema,
		"JSON": TypeJSONSchema, "protobuf": TypeProtobuf, "Proto": TypeProtobuf,
	} {
		if got, err := ParseSchemaType(in); err != nil || got != want {
			t.Errorf("ParseSchemaType(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "xml", "json schema", " avro"} {
		if _, err := ParseSchemaType(bad); err == nil {
			t.Errorf("ParseSchemaType(%q) accepted", bad)
		}
	}
	for in, want := range map[string]CompatibilityMode{"none": CompatibilityNone, "Backward": CompatibilityBackward, "FORWARD": CompatibilityForward, "full": CompatibilityFull} {
		if got, err := ParseCompatibilityMode(in); err != nil || got != want {
			t.Errorf("ParseCompatibilityMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseCompatibilityMode("transitive"); err == nil {
		t.Error("bad mode accepted")
	}
	for in, want := range map[string]Policy{"none": PolicyNone, "Warn": PolicyWarn, "ENFORCE": PolicyEnforce} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePolicy("strict"); err == nil {
		t.Error("bad policy accepted")
	}
}
