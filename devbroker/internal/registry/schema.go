package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// definition is one parsed, validated schema definition. It is immutable once built.
type definition struct {
	typ         SchemaType
	raw         []byte // as registered; nil for primitives
	fingerprint string

	jsonDoc    any                // json_schema: the document, numbers as json.Number
	jsonSchema *jsonschema.Schema // json_schema: compiled validator
	avro       avro.Schema        // avro: parsed schema
}

// parseDefinition validates raw as a schema of type typ and computes its fingerprint.
func parseDefinition(typ SchemaType, raw []byte) (def *definition, err error) {
	defer func() {
		// The schema libraries parse untrusted input; a panic in them must not take the broker down.
		if p := recover(); p != nil {
			def, err = nil, fmt.Errorf("invalid %s schema: %v", typ, p)
		}
	}()
	switch typ {
	case TypeBytes, TypeString, TypeNumber:
		return &definition{typ: typ, fingerprint: string(typ)}, nil
	case TypeProtobuf:
		if !utf8.Valid(raw) {
			return nil, errors.New("invalid protobuf schema: definition is not valid UTF-8")
		}
		return &definition{typ: typ, raw: bytes.Clone(raw), fingerprint: sha256Hex(raw)}, nil
	case TypeJSONSchema:
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("invalid JSON schema: %w", err)
		}
		compact, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("invalid JSON schema: %w", err)
		}
		sch, err := compileJSONSchema(doc)
		if err != nil {
			return nil, fmt.Errorf("invalid JSON schema: %w", err)
		}
		return &definition{typ: typ, raw: bytes.Clone(raw), fingerprint: sha256Hex(compact), jsonDoc: doc, jsonSchema: sch}, nil
	case TypeAvro:
		s, err := parseAvro(raw)
		if err != nil {
			return nil, fmt.Errorf("invalid avro schema: %w", err)
		}
		fp := s.Fingerprint()
		return &definition{typ: typ, raw: bytes.Clone(raw), fingerprint: "sha256:" + hex.EncodeToString(fp[:]), avro: s}, nil
	}
	return nil, fmt.Errorf("unknown schema type %q", typ)
}

// parseAvro parses an Avro schema with a private name cache, so that named types of one
// definition never resolve against another's.
func parseAvro(raw []byte) (avro.Schema, error) {
	return avro.ParseBytesWithCache(raw, "", &avro.SchemaCache{})
}

// compileJSONSchema compiles doc, refusing to load any external reference (file or network).
func compileJSONSchema(doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	const loc = "urn:danube:schema"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// envelope renders the GetSchemaResponse.schema_definition JSON envelope: serde's externally
// tagged encoding of the broker's internal schema enum.
func (d *definition) envelope() []byte {
	var v any
	switch d.typ {
	case TypeBytes:
		v = "Bytes"
	case TypeString:
		v = "String"
	case TypeNumber:
		v = "Number"
	case TypeAvro:
		v = struct {
			Avro rawEnvelope `json:"Avro"`
		}{rawEnvelope{Raw: string(d.raw), Fingerprint: d.fingerprint}}
	case TypeJSONSchema:
		v = struct {
			JSONSchema rawEnvelope `json:"JsonSchema"`
		}{rawEnvelope{Raw: string(d.raw), Fingerprint: d.fingerprint}}
	case TypeProtobuf:
		v = struct {
			Protobuf protoEnvelope `json:"Protobuf"`
		}{protoEnvelope{Raw: string(d.raw), MessageName: "DefaultMessage", Fingerprint: d.fingerprint}}
	}
	b, err := json.Marshal(v)
	if err != nil { // strings and maps of strings always marshal
		return nil
	}
	return b
}

type rawEnvelope struct {
	Raw         string `json:"raw_schema"`
	Fingerprint string `json:"fingerprint"`
}

type protoEnvelope struct {
	Raw         string `json:"raw_proto"`
	MessageName string `json:"message_name"`
	Fingerprint string `json:"fingerprint"`
}
