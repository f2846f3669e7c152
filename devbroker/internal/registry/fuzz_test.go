package registry

import (
	"testing"

	"github.com/hamba/avro/v2/ocf"
)

// FuzzRegisterJSONSchema: parsing any definition as a JSON Schema never panics; an accepted one
// has a deterministic fingerprint, renders a JSON envelope, and its compatibility against a fixed
// schema (both directions, every mode) and validation of a payload never panic.
func FuzzRegisterJSONSchema(f *testing.F) {
	for _, seed := range []string{userJSON, userJSONSpaced, `true`, `{}`, `{"type":5}`, `{"$ref":"#/$defs/a","$defs":{"a":{"type":"string"}}}`,
		`{"properties":{"a":{"type":["string","null"]}},"required":["a","a",1]}`, `{"properties":[],"required":{}}`} {
		f.Add([]byte(seed), []byte(`{"name":"x"}`))
	}
	base := mustDef(f, TypeJSONSchema, userJSON)
	f.Fuzz(func(t *testing.T, raw, payload []byte) {
		def, err := parseDefinition(TypeJSONSchema, raw)
		if err != nil {
			return
		}
		again, err := parseDefinition(TypeJSONSchema, raw)
		if err != nil || again.fingerprint != def.fingerprint {
			t.Fatalf("fingerprint not deterministic: %v", err)
		}
		if len(def.envelope()) == 0 {
			t.Fatal("empty envelope")
		}
		for _, m := range []CompatibilityMode{CompatibilityBackward, CompatibilityForward, CompatibilityFull} {
			compatibilityErrors(m, base, def)
			compatibilityErrors(m, def, base)
		}
		_ = (&version{def: def}).validatePayload(payload)
	})
}

// FuzzRegisterAvroSchema: parsing any definition as an Avro schema never panics, and neither does
// resolving an accepted one against a fixed schema.
func FuzzRegisterAvroSchema(f *testing.F) {
	for _, seed := range []string{avroV1, avroAddDefault, avroTypeChange, `"int"`, `["null","string"]`,
		`{"type":"array","items":"long"}`, `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`} {
		f.Add([]byte(seed))
	}
	base := mustDef(f, TypeAvro, avroV1)
	f.Fuzz(func(t *testing.T, raw []byte) {
		def, err := parseDefinition(TypeAvro, raw)
		if err != nil {
			return
		}
		for _, m := range []CompatibilityMode{CompatibilityBackward, CompatibilityForward, CompatibilityFull} {
			compatibilityErrors(m, base, def)
			compatibilityErrors(m, def, base)
		}
	})
}

// FuzzValidateAvroOCF: validating any payload against a registered Avro schema never panics and
// terminates (the walker's step budget bounds the work).
func FuzzValidateAvroOCF(f *testing.F) {
	f.Add(ocfFile(f, avroV1, ocf.Null, map[string]any{"name": "ada"}))
	f.Add(ocfFile(f, avroV1, ocf.Deflate, map[string]any{"name": "ada"}, map[string]any{"name": "bob"}))
	f.Add(ocfFile(f, `{"type":"array","items":"null"}`, ocf.Null, []any{nil, nil, nil}))
	f.Add(ocfFile(f, `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`, ocf.Null))
	f.Add([]byte("Obj\x01"))
	f.Add([]byte{})
	readers := []*version{{def: mustDef(f, TypeAvro, avroV1)}, {def: mustDef(f, TypeAvro, `{"type":"array","items":"null"}`)}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, v := range readers {
			_ = v.validatePayload(payload)
		}
	})
}

// FuzzValidatePrimitives: the string and number validators never panic.
func FuzzValidatePrimitives(f *testing.F) {
	f.Add([]byte("hello"))
	f.Add([]byte{0xff})
	str := &version{def: mustDef(f, TypeString, "")}
	num := &version{def: mustDef(f, TypeNumber, "")}
	f.Fuzz(func(t *testing.T, payload []byte) {
		_ = str.validatePayload(payload)
		_ = num.validatePayload(payload)
	})
}
