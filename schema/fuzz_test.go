package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"unicode/utf8"
)

// fuzzAvroSchema covers every Avro type, logical types and recursion.
const fuzzAvroSchema = `{
  "type": "record", "name": "Node", "namespace": "fz",
  "fields": [
    {"name": "b", "type": "boolean"},
    {"name": "i", "type": "int"},
    {"name": "l", "type": "long"},
    {"name": "f", "type": "float"},
    {"name": "d", "type": "double"},
    {"name": "s", "type": "string"},
    {"name": "by", "type": "bytes"},
    {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}},
    {"name": "fx", "type": {"type": "fixed", "name": "F", "size": 3}},
    {"name": "arr", "type": {"type": "array", "items": ["null", "long", "string"]}},
    {"name": "nulls", "type": {"type": "array", "items": "null"}},
    {"name": "m", "type": {"type": "map", "values": "double"}},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 3}},
    {"name": "next", "type": ["null", "Node"]}
  ]
}`

func fuzzAvroValue() map[string]any {
	return map[string]any{
		"b": true, "i": 7, "l": int64(-9), "f": float32(1.5), "d": 2.25, "s": "héllo", "by": []byte{0, 255},
		"e": "B", "fx": []byte{1, 2, 3}, "arr": []any{nil, int64(3), "x"}, "nulls": []any{nil, nil},
		"m": map[string]any{"k": 1.0}, "ts": int64(1700000000123), "day": 19000, "dec": "12.345",
		"next": map[string]any{"fz.Node": map[string]any{
			"b": false, "i": 0, "l": int64(0), "f": float32(0), "d": 0.0, "s": "", "by": []byte{},
			"e": "A", "fx": []byte{0, 0, 0}, "arr": []any{}, "nulls": []any{}, "m": map[string]any{},
			"ts": int64(0), "day": 0, "dec": "0", "next": nil,
		}},
	}
}

func FuzzDecodeAvro(f *testing.F) {
	seedSerde := mustSerde(f, Avro, fuzzAvroSchema, serdeOptions{validate: true})
	for _, enc := range []AvroEncoding{AvroOCF, AvroBinary, AvroJSON} {
		s := mustSerde(f, Avro, fuzzAvroSchema, serdeOptions{avro: enc})
		b, err := s.encode(fuzzAvroValue())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Obj\x01"))
	f.Add([]byte(`{"b":true}`))
	f.Add([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	bin := seedSerde.(*avroSerde)
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := bin.decode(p)
		if err != nil {
			if !isInvalid(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		// A decoded value encodes, with our writer and with hamba/avro's,
		// and both encodings decode to the same value.
		b1, err := bin.writeAvro(nil, bin.schema, v, 0)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v (%#v)", err, v)
		}
		b2, err := bin.api.Marshal(bin.schema, v)
		if err != nil {
			t.Fatalf("decoded value does not encode with hamba/avro: %v (%#v)", err, v)
		}
		want := fmt.Sprint(v)
		for _, b := range [][]byte{b1, b2} {
			v2, err := bin.decode(b)
			if err != nil {
				t.Fatalf("re-encoded value does not decode: %v", err)
			}
			if got := fmt.Sprint(v2); got != want {
				t.Fatalf("round trip changed the value:\n%s\n%s", got, want)
			}
		}
		var out map[string]any
		if err := bin.decodeInto(p, &out); err != nil {
			t.Fatalf("decode ok but decodeInto fails: %v", err)
		}
	})
}

func isInvalid(err error) bool { return errors.Is(err, ErrInvalidPayload) }

func FuzzDecodeJSON(f *testing.F) {
	s := mustSerde(f, JSONSchema, orderSchema, serdeOptions{validate: true})
	f.Add([]byte(`{"id":"a","qty":2,"tags":["x"]}`))
	f.Add([]byte(`{"id":"a","qty":0}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"id":`))
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := s.decode(p)
		if err != nil {
			if !isInvalid(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		b, err := s.encode(v)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		v2, err := s.decode(b)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip: %#v vs %#v (%v)", v, v2, err)
		}
	})
}

func FuzzDecodeNumber(f *testing.F) {
	ints := mustSerde(f, Number, "", serdeOptions{})
	floats := mustSerde(f, Number, "", serdeOptions{number: NumberFloat64})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{0x80, 0, 0, 0})
	f.Add([]byte("42"))
	f.Add([]byte("-1.5e300"))
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, s := range []serde{ints, floats} {
			v, err := s.decode(p)
			if err != nil {
				if !isInvalid(err) {
					t.Fatalf("unclassified error: %v", err)
				}
				if len(p) == 4 || len(p) == 8 {
					t.Fatalf("%d bytes refused: %v", len(p), err)
				}
				continue
			}
			if len(p) == 8 {
				b, err := s.encode(v)
				if err != nil {
					t.Fatalf("encode %v: %v", v, err)
				}
				if f, ok := v.(float64); ok && math.IsNaN(f) {
					continue // NaN payloads differ in their bits
				}
				if !bytes.Equal(b, p) {
					t.Fatalf("round trip %x → %v → %x", p, v, b)
				}
			}
		}
	})
}

func FuzzDecodeString(f *testing.F) {
	s := mustSerde(f, String, "", serdeOptions{})
	f.Add([]byte("hello"))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := s.decode(p)
		if (err == nil) != utf8.Valid(p) {
			t.Fatalf("valid %v, error %v", utf8.Valid(p), err)
		}
		if err != nil {
			if !isInvalid(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		b, err := s.encode(v)
		if err != nil || !bytes.Equal(b, p) {
			t.Fatalf("round trip: %q %v", b, err)
		}
	})
}

func FuzzDecodeBytes(f *testing.F) {
	s := mustSerde(f, Bytes, "", serdeOptions{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := s.decode(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.encode(v)
		if err != nil || !bytes.Equal(b, p) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzEncodeAvroJSON feeds JSON text to the avro encoder: it must accept or
// classify, and what it accepts must decode back in every wire form.
func FuzzEncodeAvroJSON(f *testing.F) {
	plain, _ := json.Marshal(plainAvro(mustSerde(f, Avro, fuzzAvroSchema, serdeOptions{}).(*avroSerde).schema, mustNative(f)))
	f.Add(plain)
	f.Add([]byte(`{"b":1}`))
	serdes := []serde{}
	for _, enc := range []AvroEncoding{AvroOCF, AvroBinary, AvroJSON} {
		serdes = append(serdes, mustSerde(f, Avro, fuzzAvroSchema, serdeOptions{avro: enc}))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, s := range serdes {
			b, err := s.encode(json.RawMessage(p))
			if err != nil {
				if !isInvalid(err) {
					t.Fatalf("unclassified error: %v", err)
				}
				return
			}
			if _, err := s.decode(b); err != nil {
				t.Fatalf("own encoding does not decode: %v", err)
			}
		}
	})
}

func mustNative(t testing.TB) any {
	s := mustSerde(t, Avro, fuzzAvroSchema, serdeOptions{}).(*avroSerde)
	n, err := coerceAvro(s.schema, fuzzAvroValue(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
