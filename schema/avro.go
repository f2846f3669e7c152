package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
)

// Limits that keep a hostile payload from costing more than its size.
const (
	// maxAvroDepth bounds the nesting of recursive types while decoding.
	maxAvroDepth = 1000
	// maxZeroWidthItems bounds arrays whose items take no bytes (null,
	// empty records), which a block count alone could make unbounded.
	maxZeroWidthItems = 1 << 16
	// maxAvroBytes bounds a single string or bytes value (the broker caps
	// messages far below this).
	maxAvroBytes = 64 << 20
	// maxWriterSchemas bounds the writer schemas (from object container
	// headers that differ from the registered text) kept per serde.
	maxWriterSchemas = 8
)

// avroSerde is the serde of one Avro schema version.
type avroSerde struct {
	schema   avro.Schema
	def      []byte
	api      avro.API
	encoding AvroEncoding
	header   []byte   // object container header, ready to copy
	sync     [16]byte // object container sync marker
	widths   map[*avro.ArraySchema]int
	self     *avroWriter // the registered schema as a writer

	mu      sync.Mutex
	writers map[string]*avroWriter // writer schemas seen in container headers
}

// avroWriter is a writer schema parsed from a container header.
type avroWriter struct {
	schema avro.Schema
	widths map[*avro.ArraySchema]int
}

func newAvroAPI() avro.API {
	return avro.Config{
		MaxByteSliceSize:  maxAvroBytes,
		MaxSliceAllocSize: maxAvroBytes,
	}.Freeze()
}

// parseAvro parses a definition in a cache of its own, so that named types
// of one subject or version never leak into another.
func parseAvro(def []byte) (avro.Schema, error) {
	s, err := avro.ParseBytesWithCache(def, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("schema: parse Avro schema: %w", err)
	}
	return s, nil
}

// logicalType returns the logical type of s, "" if it has none.
func logicalType(s avro.Schema) avro.LogicalType {
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		return ls.Logical().Type()
	}
	return ""
}

func newAvroSerde(def []byte, o serdeOptions) (*avroSerde, error) {
	if len(bytes.TrimSpace(def)) == 0 {
		return nil, errors.New("schema: avro schema has no definition")
	}
	s, err := parseAvro(def)
	if err != nil {
		return nil, err
	}
	a := &avroSerde{schema: s, def: def, api: newAvroAPI(), encoding: o.avro, widths: arrayWidths(s)}
	a.self = &avroWriter{schema: s, widths: a.widths}
	a.sync = syncMarker(def)
	a.header = ocfHeader(def, a.sync)
	return a, nil
}

// native converts v into the generic form hamba/avro reads and writes,
// checking it against the schema; ok is false for values (structs, typed
// maps) that go to the reflection-based encoder as they are.
func (a *avroSerde) native(v any) (n any, ok bool, err error) {
	switch x := v.(type) {
	case json.RawMessage:
		g, err := parseJSONNumbers(x)
		if err != nil {
			return nil, true, invalid(Avro, "not valid JSON: %v", err)
		}
		n, err := coerceAvro(a.schema, g, nil)
		return n, true, err
	case nil, bool, string, []byte, map[string]any, []any, json.Number, time.Time, time.Duration, *big.Rat,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		n, err := coerceAvro(a.schema, x, nil)
		return n, true, err
	}
	return nil, false, nil
}

// datum encodes v as a bare binary datum, after room for prefix bytes;
// it also returns the generic value when v was generic data.
func (a *avroSerde) datum(v any, prefix int) ([]byte, any, error) {
	n, ok, err := a.native(v)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		b, err := a.writeAvro(make([]byte, prefix, prefix+256), a.schema, n, 0)
		if err != nil {
			return nil, nil, err
		}
		return b, n, nil
	}
	b, err := a.api.Marshal(a.schema, v)
	if err != nil {
		return nil, nil, invalid(Avro, "%v", err)
	}
	if prefix > 0 {
		b = append(make([]byte, prefix, prefix+len(b)), b...)
	}
	return b, nil, nil
}

func (a *avroSerde) encode(v any) ([]byte, error) {
	switch a.encoding {
	case AvroBinary:
		b, _, err := a.datum(v, 0)
		return b, err
	case AvroJSON:
		b, n, err := a.datum(v, 0)
		if err != nil {
			return nil, err
		}
		if n == nil {
			if n, err = readAvro(a.schema, a.widths, b, true); err != nil {
				return nil, err
			}
		}
		out, err := json.Marshal(plainAvro(a.schema, n))
		if err != nil {
			return nil, invalid(Avro, "marshal JSON: %v", err)
		}
		return out, nil
	}
	// Encode after room for the header and the block's count and size,
	// then shift the datum only if its size took fewer bytes than reserved.
	const room = 1 + 10
	b, _, err := a.datum(v, len(a.header)+room)
	if err != nil {
		return nil, err
	}
	return a.container(b, room), nil
}

// form is the detected wire form of an avro payload.
type form uint8

const (
	formBinary form = iota
	formOCF
	formJSON
)

func detectAvro(p []byte) form {
	if len(p) >= 4 && p[0] == 'O' && p[1] == 'b' && p[2] == 'j' && p[3] == 1 {
		return formOCF
	}
	i := 0
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	if i < len(p) && p[i] == '{' && json.Valid(p) {
		return formJSON
	}
	return formBinary
}

// decodeNative decodes any wire form into the generic value, shaped by the
// registered schema.
func (a *avroSerde) decodeNative(p []byte) (any, error) {
	switch detectAvro(p) {
	case formOCF:
		w, datum, err := a.openContainer(p)
		if err != nil {
			return nil, err
		}
		v, err := readAvro(w.schema, w.widths, datum, true)
		if err != nil || w == a.self {
			return v, err
		}
		return a.resolve(w, v)
	case formJSON:
		g, err := parseJSONNumbers(p)
		if err != nil {
			return nil, invalid(Avro, "not valid JSON: %v", err)
		}
		return coerceAvro(a.schema, g, nil)
	}
	return readAvro(a.schema, a.widths, p, true)
}

// resolve reshapes a value read with another writer schema (from a
// container header) into the registered schema, field by field by name:
// fields the registered schema lacks are dropped, missing ones take their
// defaults, union branches are chosen again. A value that does not fit is
// invalid.
func (a *avroSerde) resolve(w *avroWriter, v any) (any, error) {
	n, err := coerceAvro(a.schema, plainAvro(w.schema, v), nil)
	if err != nil {
		return nil, fmt.Errorf("object container writer schema does not resolve to the registered schema: %w", err)
	}
	return n, nil
}

func (a *avroSerde) decode(p []byte) (any, error) { return a.decodeNative(p) }

func (a *avroSerde) decodeInto(p []byte, out any) error {
	if o, ok := out.(*any); ok {
		v, err := a.decodeNative(p)
		if err == nil {
			*o = v
		}
		return err
	}
	datum := p
	switch detectAvro(p) {
	case formOCF:
		w, d, err := a.openContainer(p)
		if err != nil {
			return err
		}
		if w != a.self {
			return a.decodeGenericInto(p, out)
		}
		if _, err := readAvro(w.schema, w.widths, d, false); err != nil {
			return err
		}
		datum = d
	case formJSON:
		return a.decodeGenericInto(p, out)
	default:
		if _, err := readAvro(a.schema, a.widths, p, false); err != nil {
			return err
		}
	}
	if err := a.api.Unmarshal(a.schema, datum, out); err != nil {
		return fmt.Errorf("schema: decode avro into %T: %w", out, err)
	}
	return nil
}

// decodeGenericInto decodes through the generic value: used for the forms
// that are not a binary datum of the registered schema.
func (a *avroSerde) decodeGenericInto(p []byte, out any) error {
	n, err := a.decodeNative(p)
	if err != nil {
		return err
	}
	b, err := a.api.Marshal(a.schema, n)
	if err != nil {
		return invalid(Avro, "%v", err)
	}
	if err := a.api.Unmarshal(a.schema, b, out); err != nil {
		return fmt.Errorf("schema: decode avro into %T: %w", out, err)
	}
	return nil
}

// writer returns the schema a container header names: the registered one
// when the text is identical, else a parsed (and remembered) writer schema.
func (a *avroSerde) writer(def []byte) (*avroWriter, error) {
	if bytes.Equal(def, a.def) {
		return a.self, nil
	}
	a.mu.Lock()
	w, ok := a.writers[string(def)]
	a.mu.Unlock()
	if ok {
		return w, nil
	}
	s, err := parseAvro(def)
	if err != nil {
		return nil, invalid(Avro, "object container writer schema: %v", err)
	}
	w = &avroWriter{schema: s, widths: arrayWidths(s)}
	a.mu.Lock()
	if a.writers == nil || len(a.writers) >= maxWriterSchemas {
		a.writers = make(map[string]*avroWriter, maxWriterSchemas)
	}
	a.writers[string(def)] = w
	a.mu.Unlock()
	return w, nil
}

// parseJSONNumbers parses JSON text keeping numbers as json.Number, so that
// longs keep their precision.
func parseJSONNumbers(p []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// canonicalAvro returns a layout-insensitive form of an Avro definition
// that still tells defaults and documentation apart.
func canonicalAvro(def []byte) ([]byte, bool) { return canonicalJSON(def) }

// arrayWidths records, for every array schema reachable from s, the least
// number of bytes one item takes on the wire.
func arrayWidths(s avro.Schema) map[*avro.ArraySchema]int {
	m := map[*avro.ArraySchema]int{}
	seen := map[avro.Schema]bool{}
	var walk func(avro.Schema)
	walk = func(s avro.Schema) {
		if seen[s] {
			return
		}
		seen[s] = true
		switch x := s.(type) {
		case *avro.RecordSchema:
			for _, f := range x.Fields() {
				walk(f.Type())
			}
		case *avro.ArraySchema:
			m[x] = minWidth(x.Items(), map[avro.Schema]bool{})
			walk(x.Items())
		case *avro.MapSchema:
			walk(x.Values())
		case *avro.UnionSchema:
			for _, t := range x.Types() {
				walk(t)
			}
		case *avro.RefSchema:
			walk(x.Schema())
		}
	}
	walk(s)
	return m
}

func minWidth(s avro.Schema, seen map[avro.Schema]bool) int {
	switch s.Type() {
	case avro.Null:
		return 0
	case avro.Float:
		return 4
	case avro.Double:
		return 8
	case avro.Fixed:
		return s.(*avro.FixedSchema).Size()
	case avro.Record:
		if seen[s] {
			return 0
		}
		seen[s] = true
		n := 0
		for _, f := range s.(*avro.RecordSchema).Fields() {
			n += minWidth(f.Type(), seen)
			if n > 1<<20 {
				return 1 << 20
			}
		}
		return n
	case avro.Ref:
		return minWidth(s.(*avro.RefSchema).Schema(), seen)
	}
	return 1 // boolean, int, long, enum, array, map, union, string, bytes: at least one byte
}
