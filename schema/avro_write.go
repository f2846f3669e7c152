package schema

import (
	"encoding/binary"
	"math"
	"math/big"
	"reflect"
	"time"

	"github.com/hamba/avro/v2"
)

// writeAvro appends the binary encoding of a generic value, in the form
// coerceAvro and avroReader produce, to b. It is the fast path for generic
// data; structs go through hamba/avro's reflection encoder.
func (a *avroSerde) writeAvro(b []byte, s avro.Schema, v any, depth int) ([]byte, error) {
	if depth > maxAvroDepth {
		return nil, invalid(Avro, "nesting deeper than %d", maxAvroDepth)
	}
	bad := func() ([]byte, error) {
		return nil, invalid(Avro, "%T cannot be written as %s", v, s.Type())
	}
	logical := logicalType(s)
	switch s.Type() {
	case avro.Null:
		if v != nil {
			return bad()
		}
		return b, nil
	case avro.Boolean:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		if x {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case avro.Int:
		var i int64
		switch x := v.(type) {
		case int:
			i = int64(x)
		case time.Time:
			if logical != avro.Date {
				return bad()
			}
			i = x.Unix() / 86400
		case time.Duration:
			if logical != avro.TimeMillis {
				return bad()
			}
			i = x.Milliseconds()
		default:
			return bad()
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			return nil, invalid(Avro, "%d overflows an Avro int", i)
		}
		return appendLong(b, i), nil
	case avro.Long:
		switch x := v.(type) {
		case int64:
			return appendLong(b, x), nil
		case time.Time:
			switch logical {
			case avro.TimestampMillis, avro.LocalTimestampMillis:
				return appendLong(b, x.Unix()*1e3+int64(x.Nanosecond()/1e6)), nil
			case avro.TimestampMicros, avro.LocalTimestampMicros:
				return appendLong(b, x.Unix()*1e6+int64(x.Nanosecond()/1e3)), nil
			}
		case time.Duration:
			if logical == avro.TimeMicros {
				return appendLong(b, x.Microseconds()), nil
			}
		}
		return bad()
	case avro.Float:
		x, ok := v.(float32)
		if !ok {
			return bad()
		}
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(x)), nil
	case avro.Double:
		x, ok := v.(float64)
		if !ok {
			return bad()
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(x)), nil
	case avro.String:
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		b = appendLong(b, int64(len(x)))
		return append(b, x...), nil
	case avro.Bytes, avro.Fixed:
		if r, ok := v.(*big.Rat); ok {
			if logical != avro.Decimal {
				return bad()
			}
			enc, err := a.api.Marshal(s, r)
			if err != nil {
				return nil, invalid(Avro, "%v", err)
			}
			return append(b, enc...), nil
		}
		if s.Type() == avro.Bytes {
			x, ok := v.([]byte)
			if !ok {
				return bad()
			}
			return appendAvroBytes(b, x), nil
		}
		size := s.(*avro.FixedSchema).Size()
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Array || rv.Type().Elem().Kind() != reflect.Uint8 || rv.Len() != size {
			return bad()
		}
		start := len(b)
		b = append(b, make([]byte, size)...)
		reflect.Copy(reflect.ValueOf(b[start:]), rv)
		return b, nil
	case avro.Enum:
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		for i, sym := range s.(*avro.EnumSchema).Symbols() {
			if sym == x {
				return appendLong(b, int64(i)), nil
			}
		}
		return nil, invalid(Avro, "%q is not a symbol of enum %s", x, s.(*avro.EnumSchema).FullName())
	case avro.Record:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		var err error
		for _, f := range s.(*avro.RecordSchema).Fields() {
			if b, err = a.writeAvro(b, f.Type(), m[f.Name()], depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case avro.Ref:
		return a.writeAvro(b, s.(*avro.RefSchema).Schema(), v, depth+1)
	case avro.Array:
		arr, ok := v.([]any)
		if !ok {
			return bad()
		}
		if len(arr) > 0 {
			b = appendLong(b, int64(len(arr)))
			items := s.(*avro.ArraySchema).Items()
			var err error
			for _, e := range arr {
				if b, err = a.writeAvro(b, items, e, depth+1); err != nil {
					return nil, err
				}
			}
		}
		return append(b, 0), nil
	case avro.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		if len(m) > 0 {
			b = appendLong(b, int64(len(m)))
			values := s.(*avro.MapSchema).Values()
			var err error
			for k, e := range m {
				b = appendLong(b, int64(len(k)))
				b = append(b, k...)
				if b, err = a.writeAvro(b, values, e, depth+1); err != nil {
					return nil, err
				}
			}
		}
		return append(b, 0), nil
	case avro.Union:
		types := s.(*avro.UnionSchema).Types()
		if v == nil {
			for i, t := range types {
				if t.Type() == avro.Null {
					return appendLong(b, int64(i)), nil
				}
			}
			return bad()
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return bad()
		}
		for k, inner := range m {
			for i, t := range types {
				if t.Type() != avro.Null && unionName(t) == k {
					return a.writeAvro(appendLong(b, int64(i)), t, inner, depth+1)
				}
			}
			return nil, invalid(Avro, "%q is not a branch of the union %s", k, s.String())
		}
	}
	return bad()
}
