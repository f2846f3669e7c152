package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// jsonSerde writes JSON text validated against a JSON Schema.
type jsonSerde struct {
	sch      *jsonschema.Schema // nil: no definition, anything goes
	validate bool
}

// schemaURL is the location the definition is compiled under. Nothing is
// ever loaded from it: external references are refused.
const schemaURL = "urn:danube-connect:schema"

var printer = message.NewPrinter(language.English)

// noLoader refuses every external $ref, so compiling a registry schema never
// touches the file system or the network.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema %q: references outside the schema are not supported", url)
}

func compileJSONSchema(def []byte) (*jsonschema.Schema, error) {
	if len(bytes.TrimSpace(def)) == 0 {
		return nil, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(def))
	if err != nil {
		return nil, fmt.Errorf("schema: parse JSON schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("schema: load JSON schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("schema: compile JSON schema: %w", err)
	}
	return sch, nil
}

func newJSONSerde(def []byte, validate bool) (*jsonSerde, error) {
	sch, err := compileJSONSchema(def)
	if err != nil {
		return nil, err
	}
	return &jsonSerde{sch: sch, validate: validate}, nil
}

// check validates a generic JSON value.
func (s *jsonSerde) check(v any) error {
	if s.sch == nil {
		return nil
	}
	if err := s.sch.Validate(v); err != nil {
		return invalid(JSONSchema, "%s", describeValidation(err))
	}
	return nil
}

// describeValidation names the first failing instance path and the reason.
func describeValidation(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	return fmt.Sprintf("at %q: %s", "/"+strings.Join(ve.InstanceLocation, "/"), ve.ErrorKind.LocalizedString(printer))
}

// encode marshals v and validates it. []byte and json.RawMessage are taken as
// JSON text and published unchanged once valid.
func (s *jsonSerde) encode(v any) ([]byte, error) {
	var raw []byte
	var generic any
	switch x := v.(type) {
	case []byte:
		raw = x
	case json.RawMessage:
		raw = x
	case string:
		// A Go string is a JSON string value, not JSON text.
		generic = x
	case map[string]any, []any, bool, float64, nil:
		generic = x
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, invalid(JSONSchema, "marshal %T: %v", v, err)
		}
		raw = b
	}
	if raw != nil {
		if s.sch == nil {
			if !json.Valid(raw) {
				return nil, invalid(JSONSchema, "not valid JSON")
			}
			return raw, nil
		}
		if err := json.Unmarshal(raw, &generic); err != nil {
			return nil, invalid(JSONSchema, "not valid JSON: %v", err)
		}
		if err := s.check(generic); err != nil {
			return nil, err
		}
		return raw, nil
	}
	if err := s.check(generic); err != nil {
		return nil, err
	}
	b, err := json.Marshal(generic)
	if err != nil {
		return nil, invalid(JSONSchema, "marshal %T: %v", v, err)
	}
	return b, nil
}

func (s *jsonSerde) decode(p []byte) (any, error) {
	var v any
	if err := json.Unmarshal(p, &v); err != nil {
		return nil, invalid(JSONSchema, "not valid JSON: %v", err)
	}
	if s.validate {
		if err := s.check(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (s *jsonSerde) decodeInto(p []byte, out any) error {
	if o, ok := out.(*any); ok {
		v, err := s.decode(p)
		if err == nil {
			*o = v
		}
		return err
	}
	if s.validate && s.sch != nil {
		if _, err := s.decode(p); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(p, out); err != nil {
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		if errors.As(err, &ute) || errors.As(err, &se) {
			return invalid(JSONSchema, "%v", err)
		}
		return fmt.Errorf("schema: decode JSON into %T: %w", out, err)
	}
	return nil
}

// canonicalJSON re-serializes JSON text compactly with sorted object keys, so
// that definitions differing only in layout compare equal.
func canonicalJSON(b []byte) ([]byte, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	return out, true
}
