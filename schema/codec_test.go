package schema

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/danube-connect/connect/danube"
)

const (
	orderV1 = `{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`
	orderV2 = `{"type":"object","properties":{"id":{"type":"string"},"note":{"type":"string"}},"required":["id"]}`
	// orderBad requires a field v2 lacks: backward incompatible.
	orderBad = `{"type":"object","properties":{"id":{"type":"string"},"qty":{"type":"integer"}},"required":["id","qty"]}`
)

// requiredCompat mimics the broker's backward rule for JSON schemas: a newly
// required field is incompatible.
func requiredCompat(old, new []byte) []string {
	if strings.Contains(string(new), `"qty"]`) && !strings.Contains(string(old), `"qty"`) {
		return []string{"field 'qty' became required"}
	}
	return nil
}

func TestNewCodecRegistersAndEvolves(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	reg.compat = requiredCompat
	spec := Spec{Topic: "/default/orders", Type: "json", Definition: []byte(orderV1), AutoRegister: true}

	c1, err := newCodec(ctx, reg, spec)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Subject() != "default-orders" || c1.Version() != 1 || c1.ID() == 0 || c1.Type() != JSONSchema {
		t.Fatalf("codec: %s v%d id %d %s", c1.Subject(), c1.Version(), c1.ID(), c1.Type())
	}
	if ref := c1.SchemaRef(); ref.Subject != "default-orders" || ref.Version != danube.Pinned(1) {
		t.Fatalf("ref: %+v", ref)
	}

	// Same definition, other layout: no new version, no registration.
	before := reg.registers.Load()
	spec.Definition = []byte("{\n  \"required\": [\"id\"],\n  \"type\": \"object\",\n  \"properties\": {\"id\": {\"type\": \"string\"}}\n}")
	c, err := newCodec(ctx, reg, spec)
	if err != nil || c.Version() != 1 || reg.registers.Load() != before {
		t.Fatalf("same definition: v%d registers %d→%d %v", c.Version(), before, reg.registers.Load(), err)
	}

	// Compatible change: a new version.
	spec.Definition = []byte(orderV2)
	c2, err := newCodec(ctx, reg, spec)
	if err != nil || c2.Version() != 2 || c2.ID() != c1.ID() {
		t.Fatalf("evolve: %v", err)
	}
	if _, err := c2.Encode(map[string]any{"id": "x", "note": "n"}); err != nil {
		t.Fatal(err)
	}

	// Incompatible change: a clear error with the registry's reasons.
	spec.Definition = []byte(orderBad)
	_, err = newCodec(ctx, reg, spec)
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "field 'qty' became required") || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("incompatible: %v", err)
	}

	// Pinned to an older version: tagged and encoded with version 1.
	spec.Definition = []byte(orderV2)
	spec.Version = danube.Pinned(1)
	c, err = newCodec(ctx, reg, spec)
	if err != nil || c.Version() != 1 || c.SchemaRef().Version != danube.Pinned(1) {
		t.Fatalf("pinned 1: %v", err)
	}
	spec.Version = danube.Pinned(3)
	if _, err := newCodec(ctx, reg, spec); !errors.Is(err, ErrVersionUnavailable) {
		t.Fatalf("pinned 3: %v", err)
	}
	spec.Version = danube.Minimum(2)
	if c, err := newCodec(ctx, reg, spec); err != nil || c.Version() != 2 {
		t.Fatalf("minimum 2: %v", err)
	}
	spec.Version = danube.Minimum(3)
	if _, err := newCodec(ctx, reg, spec); !errors.Is(err, ErrVersionUnavailable) {
		t.Fatalf("minimum 3: %v", err)
	}
}

func TestNewCodecPinnedToOlderDefinition(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	if _, err := reg.Register(ctx, "s", "json_schema", []byte(orderV1)); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, "s", "json_schema", []byte(orderBad)); err != nil {
		t.Fatal(err)
	}
	// Going back from orderBad to v1 would be incompatible; pinning v1 with
	// v1's text registers nothing and needs no check.
	reg.compat = func(_, _ []byte) []string { return []string{"never"} }
	for _, auto := range []bool{true, false} {
		c, err := newCodec(ctx, reg, Spec{Subject: "s", Type: JSONSchema, Definition: []byte(orderV1), Version: danube.Pinned(1), AutoRegister: auto})
		if err != nil || c.Version() != 1 {
			t.Fatalf("auto-register %v: %v", auto, err)
		}
	}
	// With the latest strategy the same text is an evolution, refused here.
	if _, err := newCodec(ctx, reg, Spec{Subject: "s", Type: JSONSchema, Definition: []byte(orderV1), AutoRegister: true}); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("latest: %v", err)
	}
}

func TestNewCodecWithoutAutoRegister(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	spec := Spec{Subject: "s", Type: Avro, Definition: []byte(userSchema)}
	if _, err := newCodec(ctx, reg, spec); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("missing subject: %v", err)
	}
	if _, err := reg.Register(ctx, "s", "avro", []byte(userSchema)); err != nil {
		t.Fatal(err)
	}
	c, err := newCodec(ctx, reg, spec)
	if err != nil || c.Version() != 1 {
		t.Fatalf("registered: %v", err)
	}
	// No local definition: use the registry's.
	if c, err := newCodec(ctx, reg, Spec{Subject: "s", Type: "avro"}); err != nil || c.Version() != 1 {
		t.Fatalf("registry definition: %v", err)
	}
	spec.Definition = []byte(strings.Replace(userSchema, `"default": 0`, `"default": 1`, 1))
	if _, err := newCodec(ctx, reg, spec); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("changed definition: %v", err)
	}
	// The spec's type must match the registry's.
	if _, err := newCodec(ctx, reg, Spec{Subject: "s", Type: String}); err == nil {
		t.Fatal("string codec on an avro subject")
	}
}

func TestNewCodecPrimitives(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	for _, typ := range []Type{Bytes, String, Number} {
		c, err := newCodec(ctx, reg, Spec{Subject: "p-" + string(typ), Type: typ, Definition: []byte("ignored"), AutoRegister: true})
		if err != nil || c.Version() != 1 {
			t.Fatalf("%s: %v", typ, err)
		}
		// Again: nothing new.
		if c, err := newCodec(ctx, reg, Spec{Subject: "p-" + string(typ), Type: typ, AutoRegister: true}); err != nil || c.Version() != 1 {
			t.Fatalf("%s again: %v", typ, err)
		}
	}
}

func TestNewCodecRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	for name, spec := range map[string]Spec{
		"no subject":      {Type: Bytes, AutoRegister: true},
		"bad type":        {Subject: "x", Type: "xml", AutoRegister: true},
		"bad avro":        {Subject: "x", Type: Avro, Definition: []byte(`{"type":"record"}`), AutoRegister: true},
		"bad json schema": {Subject: "x", Type: JSONSchema, Definition: []byte(`{"type": 5}`), AutoRegister: true},
		"no definition":   {Subject: "x", Type: Avro, AutoRegister: true},
	} {
		if _, err := newCodec(ctx, reg, spec); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if reg.registers.Load() != 0 {
		t.Fatalf("bad specs reached the registry: %d registrations", reg.registers.Load())
	}
	if _, err := NewCodec(ctx, nil, Spec{Subject: "x", Type: Bytes}); err == nil {
		t.Fatal("nil registry accepted")
	}
}

func TestCodecValidate(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry()
	codec := func(spec Spec) *Codec {
		t.Helper()
		spec.AutoRegister = true
		c, err := newCodec(ctx, reg, spec)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	jsonC := codec(Spec{Subject: "orders", Type: JSONSchema, Definition: []byte(orderV1)})
	avroC := codec(Spec{Subject: "users", Type: Avro, Definition: []byte(userSchema)})
	ocf, err := avroC.Encode(sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	binC := codec(Spec{Subject: "users", Type: Avro, Definition: []byte(userSchema), AvroEncoding: AvroBinary})
	datum, err := binC.Encode(sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		c       *Codec
		payload string
		ok      bool
	}{
		{"json valid", jsonC, `{"id":"a"}`, true},
		{"json schema violation", jsonC, `{"id":1}`, false},
		{"json missing field", jsonC, `{}`, false},
		{"json not json", jsonC, `{"id":`, false},
		{"json empty", jsonC, ``, false},
		{"avro container", avroC, string(ocf), true},
		{"avro bare datum", avroC, string(datum), true},
		{"avro truncated", avroC, string(ocf[:len(ocf)-3]), false},
		{"avro garbage", avroC, "\x02\xff", false},
		{"string utf-8", codec(Spec{Subject: "s", Type: String}), "héllo", true},
		{"string invalid utf-8", codec(Spec{Subject: "s", Type: String}), "\xff", false},
		{"number 8 bytes", codec(Spec{Subject: "n", Type: Number}), "\x00\x00\x00\x00\x00\x00\x00\x2a", true},
		{"number 3 bytes", codec(Spec{Subject: "n", Type: Number}), "\x00\x00\x01", false},
		{"bytes anything", codec(Spec{Subject: "b", Type: Bytes}), "\xff\x00", true},
	} {
		err := tc.c.Validate([]byte(tc.payload))
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && !errors.Is(err, ErrInvalidPayload):
			t.Errorf("%s: %v, want an error matching ErrInvalidPayload", tc.name, err)
		case !tc.ok && !strings.Contains(err.Error(), `subject "`+tc.c.Subject()+`" version `):
			t.Errorf("%s: %v does not name the subject", tc.name, err)
		}
	}
}
