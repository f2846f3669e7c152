package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
)

// avroPath names the value being converted, for error messages; it is a
// stack of segments shared by the whole conversion and only turned into
// text when a value fails.
type avroPath struct {
	segs []pathSeg
}

type pathSeg struct {
	key   string
	index int // -1: key is the segment
}

func (p *avroPath) push(key string, index int) {
	p.segs = append(p.segs, pathSeg{key: key, index: index})
}

func (p *avroPath) pop() { p.segs = p.segs[:len(p.segs)-1] }

func (p *avroPath) String() string {
	if len(p.segs) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		if s.index >= 0 {
			b.WriteString(strconv.Itoa(s.index))
		} else {
			b.WriteString(s.key)
		}
	}
	return b.String()
}

func (p *avroPath) fail(format string, args ...any) error {
	return invalid(Avro, "at %q: %s", p.String(), fmt.Sprintf(format, args...))
}

// coerceAvro converts a generic value (as encoding/json produces, with
// float64 or json.Number numbers, or plain Go scalars) into the generic form
// of avroReader for schema s, checking it on the way. path names the value
// in error messages (nil: the root).
//
// Accepted inputs per type: int/long from any integral number; float/double
// from any number; bytes/fixed from []byte, a string (one byte per code
// point ≤ 255, the Avro JSON convention) or an array of numbers 0–255;
// decimals from *big.Rat, a number or a numeric string; timestamps and dates
// from time.Time or a number; enums from a symbol string; records from a
// map, where missing fields take their default and unknown keys are ignored;
// unions from nil, the Avro JSON wrapped form {"branch": value} or a bare
// value matching a branch (first match wins).
func coerceAvro(s avro.Schema, v any, path *avroPath) (any, error) {
	if path == nil {
		path = &avroPath{segs: make([]pathSeg, 0, 8)}
	}
	logical := logicalType(s)
	switch s.Type() {
	case avro.Null:
		if v != nil {
			return nil, path.fail("got %s, want null", describe(v))
		}
		return nil, nil
	case avro.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, path.fail("got %s, want boolean", describe(v))
		}
		return b, nil
	case avro.Int:
		switch logical {
		case avro.Date:
			if t, ok := v.(time.Time); ok {
				return t.UTC().Truncate(24 * time.Hour), nil
			}
		case avro.TimeMillis:
			if d, ok := v.(time.Duration); ok {
				return d.Truncate(time.Millisecond), nil
			}
		}
		i, ok := integer(v)
		if !ok || i < math.MinInt32 || i > math.MaxInt32 {
			return nil, path.fail("got %s, want int", describe(v))
		}
		switch logical {
		case avro.Date:
			return time.Unix(i*86400, 0).UTC(), nil
		case avro.TimeMillis:
			return time.Duration(i) * time.Millisecond, nil
		}
		return int(i), nil
	case avro.Long:
		switch logical {
		case avro.TimestampMillis:
			if t, ok := v.(time.Time); ok {
				return t.UTC().Truncate(time.Millisecond), nil
			}
		case avro.TimestampMicros:
			if t, ok := v.(time.Time); ok {
				return t.UTC().Truncate(time.Microsecond), nil
			}
		case avro.TimeMicros:
			if d, ok := v.(time.Duration); ok {
				return d.Truncate(time.Microsecond), nil
			}
		}
		i, ok := integer(v)
		if !ok {
			return nil, path.fail("got %s, want long", describe(v))
		}
		switch logical {
		case avro.TimestampMillis:
			sec := i / 1e3
			return time.Unix(sec, (i-sec*1e3)*1e6).UTC(), nil
		case avro.TimestampMicros:
			sec := i / 1e6
			return time.Unix(sec, (i-sec*1e6)*1e3).UTC(), nil
		case avro.TimeMicros:
			return time.Duration(i) * time.Microsecond, nil
		}
		return i, nil
	case avro.Float:
		f, ok := float(v)
		if !ok {
			return nil, path.fail("got %s, want float", describe(v))
		}
		return float32(f), nil
	case avro.Double:
		f, ok := float(v)
		if !ok {
			return nil, path.fail("got %s, want double", describe(v))
		}
		return f, nil
	case avro.String:
		str, ok := v.(string)
		if !ok {
			return nil, path.fail("got %s, want string", describe(v))
		}
		return str, nil
	case avro.Bytes:
		if logical == avro.Decimal {
			r, ok := decimal(v)
			if !ok {
				return nil, path.fail("got %s, want decimal", describe(v))
			}
			return r, nil
		}
		b, ok := byteString(v)
		if !ok {
			return nil, path.fail("got %s, want bytes", describe(v))
		}
		return b, nil
	case avro.Fixed:
		f := s.(*avro.FixedSchema)
		if logical == avro.Decimal {
			r, ok := decimal(v)
			if !ok {
				return nil, path.fail("got %s, want decimal", describe(v))
			}
			return r, nil
		}
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 && rv.Len() == f.Size() {
			return v, nil
		}
		b, ok := byteString(v)
		if !ok || len(b) != f.Size() {
			return nil, path.fail("got %s, want %d bytes (fixed %s)", describe(v), f.Size(), f.FullName())
		}
		arr := reflect.New(reflect.ArrayOf(len(b), reflect.TypeFor[byte]())).Elem()
		reflect.Copy(arr, reflect.ValueOf(b))
		return arr.Interface(), nil
	case avro.Enum:
		e := s.(*avro.EnumSchema)
		str, ok := v.(string)
		if !ok {
			return nil, path.fail("got %s, want a symbol of enum %s", describe(v), e.FullName())
		}
		for _, sym := range e.Symbols() {
			if sym == str {
				return str, nil
			}
		}
		return nil, path.fail("%q is not a symbol of enum %s", str, e.FullName())
	case avro.Record:
		rs := s.(*avro.RecordSchema)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, path.fail("got %s, want record %s", describe(v), rs.FullName())
		}
		out := make(map[string]any, len(rs.Fields()))
		for _, f := range rs.Fields() {
			fv, present := m[f.Name()]
			if !present {
				if !f.HasDefault() {
					path.push(f.Name(), -1)
					return nil, path.fail("missing field %q of record %s (it has no default)", f.Name(), rs.FullName())
				}
				fv = defaultValue(f.Type(), f.Default())
			}
			path.push(f.Name(), -1)
			c, err := coerceAvro(f.Type(), fv, path)
			if err != nil {
				return nil, err
			}
			path.pop()
			out[f.Name()] = c
		}
		return out, nil
	case avro.Ref:
		return coerceAvro(s.(*avro.RefSchema).Schema(), v, path)
	case avro.Array:
		as := s.(*avro.ArraySchema)
		arr, ok := v.([]any)
		if !ok {
			return nil, path.fail("got %s, want array", describe(v))
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			path.push("", i)
			c, err := coerceAvro(as.Items(), e, path)
			if err != nil {
				return nil, err
			}
			path.pop()
			out[i] = c
		}
		return out, nil
	case avro.Map:
		ms := s.(*avro.MapSchema)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, path.fail("got %s, want map", describe(v))
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			path.push(k, -1)
			c, err := coerceAvro(ms.Values(), e, path)
			if err != nil {
				return nil, err
			}
			path.pop()
			out[k] = c
		}
		return out, nil
	case avro.Union:
		return coerceUnion(s.(*avro.UnionSchema), v, path)
	}
	return nil, path.fail("unsupported schema type %s", s.Type())
}

func coerceUnion(u *avro.UnionSchema, v any, path *avroPath) (any, error) {
	types := u.Types()
	// A failed attempt leaves the segments it pushed; drop them.
	depth := len(path.segs)
	defer func() { path.segs = path.segs[:depth] }()
	if v == nil {
		for _, t := range types {
			if t.Type() == avro.Null {
				return nil, nil
			}
		}
		return nil, path.fail("got null, the union has no null branch")
	}
	// The Avro JSON form: {"branch name": value}.
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for k, inner := range m {
			for _, t := range types {
				if t.Type() != avro.Null && unionName(t) == k {
					c, err := coerceAvro(t, inner, path)
					if err == nil {
						return map[string]any{k: c}, nil
					}
				}
			}
		}
	}
	for _, t := range types {
		if t.Type() == avro.Null {
			continue
		}
		if c, err := coerceAvro(t, v, path); err == nil {
			return map[string]any{unionName(t): c}, nil
		}
	}
	return nil, path.fail("got %s, which matches no branch of the union %s", describe(v), u.String())
}

// defaultValue adapts a field default as hamba/avro parses it to an input
// coerceAvro accepts: a default for a union applies to its first branch.
func defaultValue(s avro.Schema, d any) any {
	if u, ok := s.(*avro.UnionSchema); ok && d != nil && len(u.Types()) > 0 {
		return map[string]any{unionName(u.Types()[0]): d}
	}
	return d
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 32 {
			return fmt.Sprintf("string %q…", x[:32])
		}
		return fmt.Sprintf("string %q", x)
	case json.Number:
		return "number " + string(x)
	case float64:
		return "number " + strconv.FormatFloat(x, 'g', -1, 64)
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// integer returns v as an int64 if it is an integral number.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, true
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, false
		}
		i, err := floatToInt64(f)
		return i, err == nil
	case string, bool, nil:
		return 0, false
	}
	i, err := toInt64(v)
	return i, err == nil
}

func float(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		i, err := toInt64(x)
		return float64(i), err == nil
	}
	return 0, false
}

func byteString(v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case string:
		b := make([]byte, 0, len(x))
		for _, r := range x {
			if r > 255 {
				return nil, false
			}
			b = append(b, byte(r))
		}
		return b, true
	case []int:
		b := make([]byte, len(x))
		for i, n := range x {
			if n < 0 || n > 255 {
				return nil, false
			}
			b[i] = byte(n)
		}
		return b, true
	case []any:
		b := make([]byte, len(x))
		for i, e := range x {
			n, ok := integer(e)
			if !ok || n < 0 || n > 255 {
				return nil, false
			}
			b[i] = byte(n)
		}
		return b, true
	}
	return nil, false
}

func decimal(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case *big.Rat:
		return x, x != nil
	case json.Number:
		return parseDecimal(string(x))
	case string:
		return parseDecimal(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(x), true
	}
	if i, ok := integer(v); ok {
		return new(big.Rat).SetInt64(i), true
	}
	return nil, false
}

// maxDecimalExponent bounds the exponent of a decimal written as text:
// big.Rat computes 10^exponent exactly, so "1e999999999" would take minutes.
const maxDecimalExponent = 1000

func parseDecimal(s string) (*big.Rat, bool) {
	if len(s) > 2*maxDecimalExponent {
		return nil, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp > maxDecimalExponent || exp < -maxDecimalExponent {
			return nil, false
		}
	}
	return new(big.Rat).SetString(s)
}

// plainAvro turns a generic Avro value into plain JSON-ready data: unions
// unwrapped, bytes and fixed as arrays of numbers, timestamps and dates as
// numbers in the schema's unit, decimals as numbers.
func plainAvro(s avro.Schema, v any) any {
	if v == nil {
		return nil
	}
	logical := logicalType(s)
	switch s.Type() {
	case avro.Int, avro.Long:
		switch x := v.(type) {
		case time.Time:
			switch logical {
			case avro.Date:
				return x.Unix() / 86400
			case avro.TimestampMicros:
				return x.UnixMicro()
			}
			return x.UnixMilli()
		case time.Duration:
			if logical == avro.TimeMicros {
				return x.Microseconds()
			}
			return x.Milliseconds()
		}
		return v
	case avro.Bytes, avro.Fixed:
		if r, ok := v.(*big.Rat); ok {
			scale := 0
			if d, ok := s.(avro.LogicalTypeSchema).Logical().(*avro.DecimalLogicalSchema); ok {
				scale = d.Scale()
			}
			return json.Number(r.FloatString(scale))
		}
		var b []byte
		if x, ok := v.([]byte); ok {
			b = x
		} else if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array {
			b = make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
		}
		out := make([]int, len(b))
		for i, c := range b {
			out[i] = int(c)
		}
		return out
	case avro.Float:
		if f, ok := v.(float32); ok {
			return float64(f)
		}
		return v
	case avro.Record:
		rs := s.(*avro.RecordSchema)
		m, _ := v.(map[string]any)
		out := make(map[string]any, len(m))
		for _, f := range rs.Fields() {
			out[f.Name()] = plainAvro(f.Type(), m[f.Name()])
		}
		return out
	case avro.Ref:
		return plainAvro(s.(*avro.RefSchema).Schema(), v)
	case avro.Array:
		arr, _ := v.([]any)
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plainAvro(s.(*avro.ArraySchema).Items(), e)
		}
		return out
	case avro.Map:
		m, _ := v.(map[string]any)
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = plainAvro(s.(*avro.MapSchema).Values(), e)
		}
		return out
	case avro.Union:
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for k, inner := range m {
				for _, t := range s.(*avro.UnionSchema).Types() {
					if unionName(t) == k {
						return plainAvro(t, inner)
					}
				}
			}
		}
		return v
	}
	return v
}
