package registry

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"github.com/hamba/avro/v2"
)

// compatibilityErrors checks candidate against existing under mode and returns the reasons it is
// incompatible; an empty result means compatible.
func compatibilityErrors(mode CompatibilityMode, existing, candidate *definition) []string {
	if mode == CompatibilityNone {
		return nil
	}
	if existing.typ != candidate.typ {
		return []string{fmt.Sprintf("schema type changed from %s to %s", existing.typ, candidate.typ)}
	}
	backward := mode == CompatibilityBackward || mode == CompatibilityFull
	forward := mode == CompatibilityForward || mode == CompatibilityFull
	switch existing.typ {
	case TypeJSONSchema:
		if backward {
			if errs := jsonBackward(existing.jsonDoc, candidate.jsonDoc); len(errs) > 0 {
				return errs
			}
		}
		if forward {
			return jsonForward(existing.jsonDoc, candidate.jsonDoc)
		}
	case TypeAvro:
		if backward {
			if err := avroCompatible(candidate.avro, existing.avro); err != nil {
				return []string{fmt.Sprintf("backward: new schema cannot read data written with the existing schema: %v", err)}
			}
		}
		if forward {
			if err := avroCompatible(existing.avro, candidate.avro); err != nil {
				return []string{fmt.Sprintf("forward: existing schema cannot read data written with the new schema: %v", err)}
			}
		}
	}
	// protobuf, bytes, string and number: always compatible with the same type.
	return nil
}

// avroCompatible reports whether data written with writer can be read with reader.
func avroCompatible(reader, writer avro.Schema) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("avro schema resolution: %v", p)
		}
	}()
	return avro.NewSchemaCompatibility().Compatible(reader, writer)
}

// jsonShape is the top-level view of a JSON Schema that the compatibility rules look at.
type jsonShape struct {
	props    map[string]any // property name → its schema
	required map[string]bool
}

func shapeOf(doc any) jsonShape {
	s := jsonShape{props: map[string]any{}, required: map[string]bool{}}
	obj, ok := doc.(map[string]any)
	if !ok {
		return s
	}
	if props, ok := obj["properties"].(map[string]any); ok {
		s.props = props
	}
	if req, ok := obj["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				s.required[name] = true
			}
		}
	}
	return s
}

// typeOf returns the "type" keyword of a property schema, nil when absent.
func typeOf(prop any) any {
	if obj, ok := prop.(map[string]any); ok {
		return obj["type"]
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func typeChanges(old, cand jsonShape) []string {
	var errs []string
	for _, name := range sortedKeys(old.props) {
		newProp, ok := cand.props[name]
		if !ok {
			continue
		}
		if ot, nt := typeOf(old.props[name]), typeOf(newProp); !reflect.DeepEqual(ot, nt) {
			errs = append(errs, fmt.Sprintf("field '%s' changed type from %s to %s", name, jsonText(ot), jsonText(nt)))
		}
	}
	return errs
}

// jsonBackward: can readers using the candidate read data valid under the old schema?
func jsonBackward(oldDoc, candDoc any) []string {
	old, cand := shapeOf(oldDoc), shapeOf(candDoc)
	var errs []string
	for _, name := range sortedKeys(old.required) {
		if _, ok := cand.props[name]; !ok {
			errs = append(errs, fmt.Sprintf("required field '%s' was removed", name))
		}
	}
	for _, name := range sortedKeys(cand.required) {
		if _, existed := old.props[name]; existed && !old.required[name] {
			errs = append(errs, fmt.Sprintf("optional field '%s' became required", name))
		}
	}
	return append(errs, typeChanges(old, cand)...)
}

// jsonForward: can readers using the old schema read data valid under the candidate?
func jsonForward(oldDoc, candDoc any) []string {
	old, cand := shapeOf(oldDoc), shapeOf(candDoc)
	var errs []string
	for _, name := range sortedKeys(cand.required) {
		if _, ok := old.props[name]; !ok {
			errs = append(errs, fmt.Sprintf("new required field '%s' is unknown to the existing schema", name))
		}
	}
	return append(errs, typeChanges(old, cand)...)
}

func jsonText(v any) string {
	if v == nil {
		return "none"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
