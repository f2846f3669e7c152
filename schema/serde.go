package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
)

// serde encodes and decodes the payloads of one schema version. Every
// implementation is immutable after construction and safe for concurrent
// use.
type serde interface {
	// encode turns a Go value into wire bytes; validation failures match
	// ErrInvalidPayload.
	encode(v any) ([]byte, error)
	// decode turns wire bytes into a generic Go value.
	decode(payload []byte) (any, error)
	// decodeInto decodes wire bytes into out, a non-nil pointer.
	decodeInto(payload []byte, out any) error
}

// serdeOptions are the knobs a serde is compiled with.
type serdeOptions struct {
	avro     AvroEncoding
	number   NumberFormat
	validate bool // validate on decode (encode always validates)
}

// newSerde compiles the serde for a schema definition.
func newSerde(t Type, def []byte, o serdeOptions) (serde, error) {
	switch t {
	case Bytes:
		return bytesSerde{}, nil
	case String:
		return stringSerde{}, nil
	case Number:
		return numberSerde{format: o.number}, nil
	case Protobuf:
		return protobufSerde{}, nil
	case JSONSchema:
		return newJSONSerde(def, o.validate)
	case Avro:
		return newAvroSerde(def, o)
	}
	return nil, fmt.Errorf("schema: unsupported schema type %q", t)
}

// setOut stores v in *out when out is a pointer to a type v is assignable
// to, and reports whether it did.
func setOut(out, v any) (bool, error) {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false, fmt.Errorf("schema: decode into %T: want a non-nil pointer", out)
	}
	el := rv.Elem()
	if v == nil {
		el.SetZero()
		return true, nil
	}
	vv := reflect.ValueOf(v)
	if vv.Type().AssignableTo(el.Type()) {
		el.Set(vv)
		return true, nil
	}
	if vv.Type().ConvertibleTo(el.Type()) && el.Kind() == vv.Kind() {
		el.Set(vv.Convert(el.Type()))
		return true, nil
	}
	return false, nil
}

// bytesSerde passes payloads through untouched.
type bytesSerde struct{}

func (bytesSerde) encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case json.RawMessage:
		return x, nil
	case string:
		return []byte(x), nil
	case nil:
		return nil, nil
	}
	return nil, invalid(Bytes, "cannot encode %T as bytes (want []byte or string)", v)
}

func (bytesSerde) decode(p []byte) (any, error) { return p, nil }

func (bytesSerde) decodeInto(p []byte, out any) error {
	switch o := out.(type) {
	case *[]byte:
		*o = p
		return nil
	case *string:
		*o = string(p)
		return nil
	case *json.RawMessage:
		*o = p
		return nil
	}
	if ok, err := setOut(out, p); ok || err != nil {
		return err
	}
	return fmt.Errorf("schema: decode bytes into %T: want *[]byte or *string", out)
}

// stringSerde writes UTF-8 text.
type stringSerde struct{}

func (stringSerde) encode(v any) ([]byte, error) {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	case fmt.Stringer:
		b = []byte(x.String())
	default:
		return nil, invalid(String, "cannot encode %T as string", v)
	}
	if !utf8.Valid(b) {
		return nil, invalid(String, "not valid UTF-8")
	}
	return b, nil
}

func (stringSerde) decode(p []byte) (any, error) {
	if !utf8.Valid(p) {
		return nil, invalid(String, "not valid UTF-8")
	}
	return string(p), nil
}

func (s stringSerde) decodeInto(p []byte, out any) error {
	if !utf8.Valid(p) {
		return invalid(String, "not valid UTF-8")
	}
	switch o := out.(type) {
	case *string:
		*o = string(p)
		return nil
	case *[]byte:
		*o = p
		return nil
	}
	if ok, err := setOut(out, string(p)); ok || err != nil {
		return err
	}
	return fmt.Errorf("schema: decode string into %T: want *string", out)
}

// protobufSerde passes pre-serialized protobuf messages through: the
// registry holds only the .proto text, so payloads are not interpreted.
type protobufSerde struct{}

func (protobufSerde) encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case proto.Message:
		b, err := proto.Marshal(x)
		if err != nil {
			return nil, invalid(Protobuf, "%v", err)
		}
		return b, nil
	}
	return nil, invalid(Protobuf, "cannot encode %T as protobuf (want []byte or proto.Message)", v)
}

func (protobufSerde) decode(p []byte) (any, error) { return p, nil }

func (protobufSerde) decodeInto(p []byte, out any) error {
	switch o := out.(type) {
	case *[]byte:
		*o = p
		return nil
	case proto.Message:
		if err := proto.Unmarshal(p, o); err != nil {
			return invalid(Protobuf, "%v", err)
		}
		return nil
	}
	return fmt.Errorf("schema: decode protobuf into %T: want *[]byte or a proto.Message", out)
}

// numberSerde writes 8 big-endian bytes; see NumberFormat.
type numberSerde struct{ format NumberFormat }

func (s numberSerde) encode(v any) ([]byte, error) {
	var b [8]byte
	if s.format == NumberFloat64 {
		f, err := toFloat64(v)
		if err != nil {
			return nil, err
		}
		putUint64(b[:], math.Float64bits(f))
		return b[:], nil
	}
	i, err := toInt64(v)
	if err != nil {
		return nil, err
	}
	putUint64(b[:], uint64(i))
	return b[:], nil
}

func putUint64(b []byte, u uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32)
	b[4], b[5], b[6], b[7] = byte(u>>24), byte(u>>16), byte(u>>8), byte(u)
}

func getUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func getUint32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (s numberSerde) decode(p []byte) (any, error) {
	switch len(p) {
	case 8:
		if s.format == NumberFloat64 {
			return math.Float64frombits(getUint64(p)), nil
		}
		return int64(getUint64(p)), nil
	case 4:
		if s.format == NumberFloat64 {
			return float64(math.Float32frombits(getUint32(p))), nil
		}
		return int64(int32(getUint32(p))), nil
	}
	return decodeJSONNumber(p)
}

// decodeJSONNumber reads a number written as JSON text, the form the Rust
// danube-connect runtime produces (never 4 or 8 bytes long here: those are
// read as binary).
func decodeJSONNumber(p []byte) (any, error) {
	if len(p) == 0 || len(p) > 64 {
		return nil, invalid(Number, "want 4 or 8 bytes, got %d", len(p))
	}
	s := string(p)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	var n json.Number
	if json.Unmarshal(p, &n) != nil {
		return nil, invalid(Number, "want 4 or 8 bytes, got %d", len(p))
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return nil, invalid(Number, "JSON number %q: %v", s, err)
	}
	return f, nil
}

func (s numberSerde) decodeInto(p []byte, out any) error {
	v, err := s.decode(p)
	if err != nil {
		return err
	}
	switch o := out.(type) {
	case *int64:
		i, err := toInt64(v)
		*o = i
		return err
	case *float64:
		f, err := toFloat64(v)
		*o = f
		return err
	case *any:
		*o = v
		return nil
	}
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("schema: decode number into %T: want a non-nil pointer", out)
	}
	el := rv.Elem()
	switch el.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := toInt64(v)
		if err != nil {
			return err
		}
		if el.OverflowInt(i) {
			return invalid(Number, "%d overflows %s", i, el.Type())
		}
		el.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := toInt64(v)
		if err != nil {
			return err
		}
		if i < 0 || el.OverflowUint(uint64(i)) {
			return invalid(Number, "%d overflows %s", i, el.Type())
		}
		el.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		f, err := toFloat64(v)
		if err != nil {
			return err
		}
		el.SetFloat(f)
	default:
		return fmt.Errorf("schema: decode number into %T: want a pointer to an integer or float", out)
	}
	return nil
}

// toInt64 converts a Go number to int64 exactly, or fails with
// ErrInvalidPayload.
func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint:
		return uintToInt64(uint64(x))
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		return uintToInt64(x)
	case float32:
		return floatToInt64(float64(x))
	case float64:
		return floatToInt64(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, invalid(Number, "%q is not a number", string(x))
		}
		return floatToInt64(f)
	}
	return 0, invalid(Number, "cannot encode %T as a number", v)
}

func uintToInt64(u uint64) (int64, error) {
	if u > math.MaxInt64 {
		return 0, invalid(Number, "%d overflows int64", u)
	}
	return int64(u), nil
}

func floatToInt64(f float64) (int64, error) {
	// 2^63 is exactly representable; anything at or above it overflows.
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, invalid(Number, "%v is not an int64 (use the float64 number format for fractional values)", f)
	}
	return int64(f), nil
}

// toFloat64 converts a Go number to float64, failing for integers that
// float64 cannot represent exactly.
func toFloat64(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return 0, invalid(Number, "%q is not a number", string(x))
		}
		return f, nil
	}
	i, err := toInt64(v)
	if err != nil {
		return 0, err
	}
	f := float64(i)
	if f >= 1<<63 || int64(f) != i {
		return 0, invalid(Number, "%d is not exactly representable as float64", i)
	}
	return f, nil
}
