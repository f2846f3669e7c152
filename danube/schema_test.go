package danube

import (
	"strconv"
	"testing"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

func TestUnwrapDefinition(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bytes", `"Bytes"`, ""},
		{"string", `"String"`, ""},
		{"number", `"Number"`, ""},
		{"avro", `{"Avro":{"raw_schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}","fingerprint":"sha256:ab"}}`, `{"type":"record","name":"R","fields":[]}`},
		{"json schema", `{"JsonSchema":{"raw_schema":"{\"type\": \"object\"}","fingerprint":"sha256:cd"}}`, `{"type": "object"}`},
		{"protobuf", `{"Protobuf":{"raw_proto":"syntax = \"proto3\";","message_name":"DefaultMessage","fingerprint":"x"}}`, `syntax = "proto3";`},
		{"raw json schema", `{"type":"object","properties":{}}`, `{"type":"object","properties":{}}`},
		{"single key that is not a tag", `{"type":"string"}`, `{"type":"string"}`},
		{"tag without raw field", `{"Avro":{"other":1}}`, `{"Avro":{"other":1}}`},
		{"other json string", `"hello"`, `"hello"`},
		{"not json", `syntax = "proto3";`, `syntax = "proto3";`},
		{"empty", ``, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(unwrapDefinition([]byte(tc.in))); got != tc.want {
				t.Fatalf("unwrapDefinition(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSchemaTypeCanonical(t *testing.T) {
	tests := map[SchemaType]SchemaType{
		"JSON": SchemaJSON, "json_schema": SchemaJSON, "Avro": SchemaAvro, "proto": SchemaProtobuf,
		"int64": SchemaNumber, "double": SchemaNumber, "STRING": SchemaString, "bytes": SchemaBytes,
	}
	for in, want := range tests {
		if got := in.canonical(); got != want {
			t.Errorf("%q.canonical() = %q, want %q", in, got, want)
		}
	}
}

func TestSchemaRefWire(t *testing.T) {
	tests := []struct {
		ref  SchemaRef
		want string
	}{
		{SchemaRef{Subject: "s"}, "use_latest"},
		{SchemaRef{Subject: "s", Version: Latest()}, "use_latest"},
		{SchemaRef{Subject: "s", Version: Pinned(3)}, "pinned:3"},
		{SchemaRef{Subject: "s", Version: Minimum(2)}, "min:2"},
	}
	for _, tc := range tests {
		w := tc.ref.wire()
		var got string
		switch v := w.GetVersionRef().(type) {
		case *danubepb.SchemaReference_UseLatest:
			got = "use_latest"
		case *danubepb.SchemaReference_PinnedVersion:
			got = "pinned:" + strconv.Itoa(int(v.PinnedVersion))
		case *danubepb.SchemaReference_MinVersion:
			got = "min:" + strconv.Itoa(int(v.MinVersion))
		}
		if w.GetSubject() != "s" || got != tc.want {
			t.Errorf("%v.wire() = %s %s, want %s", tc.ref.Version, w.GetSubject(), got, tc.want)
		}
	}
}

func TestParseVersionRef(t *testing.T) {
	for in, want := range map[string]VersionRef{
		"": Latest(), "latest": Latest(), "LATEST": Latest(), "pinned:3": Pinned(3), "3": Pinned(3), " pin:7 ": Pinned(7),
		"minimum:2": Minimum(2), "min:2": Minimum(2),
	} {
		got, err := ParseVersionRef(in)
		if err != nil || got != want {
			t.Errorf("ParseVersionRef(%q) = %v, %v; want %v", in, got, err, want)
		}
		back, err := ParseVersionRef(got.String())
		if err != nil || back != got {
			t.Errorf("round trip of %v: %v, %v", got, back, err)
		}
	}
	for _, in := range []string{"pinned:0", "0", "newest", "minimum:x", "pinned:", "-1", "maximum:3"} {
		if _, err := ParseVersionRef(in); err == nil {
			t.Errorf("ParseVersionRef(%q): want an error", in)
		}
	}
	var v VersionRef
	if err := v.UnmarshalText([]byte("minimum:4")); err != nil || v != Minimum(4) {
		t.Fatalf("UnmarshalText: %v %v", v, err)
	}
	if b, _ := v.MarshalText(); string(b) != "minimum:4" {
		t.Fatalf("MarshalText: %s", b)
	}
}

func TestVersionRefAccessors(t *testing.T) {
	for _, tc := range []struct {
		ref             VersionRef
		pinned, minimum uint32
		isPin, isMin    bool
	}{
		{Latest(), 0, 0, false, false},
		{Pinned(3), 3, 0, true, false},
		{Minimum(2), 0, 2, false, true},
	} {
		p, isPin := tc.ref.Pinned()
		m, isMin := tc.ref.Minimum()
		if p != tc.pinned || isPin != tc.isPin || m != tc.minimum || isMin != tc.isMin {
			t.Errorf("%v: Pinned() = %d %v, Minimum() = %d %v", tc.ref, p, isPin, m, isMin)
		}
	}
}
