package schema

import (
	"math"
	"math/big"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// avroReader decodes one binary datum into the generic form hamba/avro's
// Reader.ReadNext produces (records and maps as map[string]any, arrays as
// []any, unions as nil or map[string]any{branch: value}, logical types as
// time.Time, time.Duration or *big.Rat, fixed as [N]byte), with bounds that
// make hostile input fail fast: every count is checked against the bytes
// left, nesting is limited, and trailing bytes are an error.
type avroReader struct {
	b      []byte
	pos    int
	build  bool // false: validate only
	widths map[*avro.ArraySchema]int
	err    error
}

// readAvro decodes p as exactly one datum of schema s.
func readAvro(s avro.Schema, widths map[*avro.ArraySchema]int, p []byte, build bool) (any, error) {
	r := avroReader{b: p, build: build, widths: widths}
	v := r.value(s, 0)
	if r.err != nil {
		return nil, r.err
	}
	if r.pos != len(p) {
		return nil, invalid(Avro, "%d trailing bytes after the datum", len(p)-r.pos)
	}
	return v, nil
}

func (r *avroReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = invalid(Avro, "offset %d: "+format, append([]any{r.pos}, args...)...)
	}
}

func (r *avroReader) left() int { return len(r.b) - r.pos }

func (r *avroReader) long() int64 {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if r.pos >= len(r.b) {
			r.fail("truncated varint")
			return 0
		}
		c := r.b[r.pos]
		r.pos++
		if shift == 63 && c > 1 {
			r.fail("varint overflows 64 bits")
			return 0
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1)
		}
	}
	r.fail("varint too long")
	return 0
}

func (r *avroReader) int() int32 {
	v := r.long()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("int %d out of range", v)
		return 0
	}
	return int32(v)
}

func (r *avroReader) take(n int) []byte {
	if n < 0 || n > r.left() {
		r.fail("length %d exceeds the %d bytes left", n, r.left())
		return nil
	}
	b := r.b[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *avroReader) length() int {
	n := r.long()
	if n < 0 || n > int64(r.left()) {
		if r.err == nil {
			r.fail("length %d exceeds the %d bytes left", n, r.left())
		}
		return -1
	}
	return int(n)
}

// blockCount reads an array or map block header; width is the least size
// of one item. It returns 0 at the end of the blocks or on error.
func (r *avroReader) blockCount(width int, total int) int {
	n := r.long()
	if n < 0 {
		if n == math.MinInt64 {
			r.fail("invalid block count")
			return 0
		}
		n = -n
		if size := r.long(); size < 0 || size > int64(r.left()) {
			r.fail("invalid block size %d", size)
			return 0
		}
	}
	if r.err != nil {
		return 0
	}
	if width > 0 {
		if n > int64(r.left()/width) {
			r.fail("block of %d items exceeds the %d bytes left", n, r.left())
			return 0
		}
	} else if n > int64(maxZeroWidthItems-total) {
		r.fail("more than %d items that take no bytes", maxZeroWidthItems)
		return 0
	}
	return int(n)
}

func (r *avroReader) value(s avro.Schema, depth int) any {
	if r.err != nil {
		return nil
	}
	if depth > maxAvroDepth {
		r.fail("nesting deeper than %d", maxAvroDepth)
		return nil
	}
	logical := logicalType(s)
	switch s.Type() {
	case avro.Null:
		return nil
	case avro.Boolean:
		b := r.take(1)
		if r.err != nil {
			return nil
		}
		if b[0] > 1 {
			r.fail("boolean byte %d", b[0])
			return nil
		}
		return b[0] == 1
	case avro.Int:
		i := r.int()
		if r.err != nil || !r.build {
			return nil
		}
		switch logical {
		case avro.Date:
			return time.Unix(int64(i)*86400, 0).UTC()
		case avro.TimeMillis:
			return time.Duration(i) * time.Millisecond
		}
		return int(i)
	case avro.Long:
		i := r.long()
		if r.err != nil || !r.build {
			return nil
		}
		switch logical {
		case avro.TimeMicros:
			return time.Duration(i) * time.Microsecond
		case avro.TimestampMillis:
			sec := i / 1e3
			return time.Unix(sec, (i-sec*1e3)*1e6).UTC()
		case avro.TimestampMicros:
			sec := i / 1e6
			return time.Unix(sec, (i-sec*1e6)*1e3).UTC()
		}
		return i
	case avro.Float:
		b := r.take(4)
		if r.err != nil || !r.build {
			return nil
		}
		return math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	case avro.Double:
		b := r.take(8)
		if r.err != nil || !r.build {
			return nil
		}
		return math.Float64frombits(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
	case avro.String:
		n := r.length()
		b := r.take(n)
		if r.err != nil {
			return nil
		}
		if !utf8.Valid(b) {
			r.fail("string is not valid UTF-8")
			return nil
		}
		if !r.build {
			return nil
		}
		return string(b)
	case avro.Bytes:
		n := r.length()
		b := r.take(n)
		if r.err != nil {
			return nil
		}
		if logical == avro.Decimal {
			return r.decimal(b, s.(avro.LogicalTypeSchema).Logical().(*avro.DecimalLogicalSchema))
		}
		if !r.build {
			return nil
		}
		return append([]byte{}, b...)
	case avro.Fixed:
		f := s.(*avro.FixedSchema)
		b := r.take(f.Size())
		if r.err != nil {
			return nil
		}
		if logical == avro.Decimal {
			return r.decimal(b, f.Logical().(*avro.DecimalLogicalSchema))
		}
		if !r.build {
			return nil
		}
		arr := reflect.New(reflect.ArrayOf(len(b), reflect.TypeFor[byte]())).Elem()
		reflect.Copy(arr, reflect.ValueOf(b))
		return arr.Interface()
	case avro.Enum:
		e := s.(*avro.EnumSchema)
		i := r.int()
		if r.err != nil {
			return nil
		}
		sym, ok := e.Symbol(int(i))
		if !ok {
			r.fail("enum index %d out of range", i)
			return nil
		}
		return sym
	case avro.Record:
		rs := s.(*avro.RecordSchema)
		var m map[string]any
		if r.build {
			m = make(map[string]any, len(rs.Fields()))
		}
		for _, f := range rs.Fields() {
			v := r.value(f.Type(), depth+1)
			if r.err != nil {
				return nil
			}
			if r.build {
				m[f.Name()] = v
			}
		}
		if !r.build {
			return nil
		}
		return m
	case avro.Ref:
		return r.value(s.(*avro.RefSchema).Schema(), depth+1)
	case avro.Array:
		as := s.(*avro.ArraySchema)
		width, ok := r.widths[as]
		if !ok {
			width = minWidth(as.Items(), map[avro.Schema]bool{})
		}
		var arr []any
		if r.build {
			arr = []any{}
		}
		total := 0
		for {
			n := r.blockCount(width, total)
			if n == 0 || r.err != nil {
				break
			}
			total += n
			for range n {
				v := r.value(as.Items(), depth+1)
				if r.err != nil {
					return nil
				}
				if r.build {
					arr = append(arr, v)
				}
			}
		}
		if r.err != nil || !r.build {
			return nil
		}
		return arr
	case avro.Map:
		ms := s.(*avro.MapSchema)
		var m map[string]any
		if r.build {
			m = map[string]any{}
		}
		for {
			n := r.blockCount(1, 0) // each entry has a key of at least one byte
			if n == 0 || r.err != nil {
				break
			}
			for range n {
				kn := r.length()
				k := r.take(kn)
				if r.err != nil {
					return nil
				}
				if !utf8.Valid(k) {
					r.fail("map key is not valid UTF-8")
					return nil
				}
				v := r.value(ms.Values(), depth+1)
				if r.err != nil {
					return nil
				}
				if r.build {
					m[string(k)] = v
				}
			}
		}
		if r.err != nil || !r.build {
			return nil
		}
		return m
	case avro.Union:
		types := s.(*avro.UnionSchema).Types()
		i := r.long()
		if r.err != nil {
			return nil
		}
		if i < 0 || i >= int64(len(types)) {
			r.fail("union index %d out of range", i)
			return nil
		}
		t := types[i]
		if t.Type() == avro.Null {
			return nil
		}
		v := r.value(t, depth+1)
		if r.err != nil || !r.build {
			return nil
		}
		return map[string]any{unionName(t): v}
	}
	r.fail("unsupported schema type %s", s.Type())
	return nil
}

// unionName is the key hamba/avro uses for a union branch: the full name of
// a named type, else the type name with its logical type.
func unionName(s avro.Schema) string {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	name := string(s.Type())
	if l := logicalType(s); l != "" {
		name += "." + string(l)
	}
	return name
}

// decimal reads the two's-complement unscaled value of a decimal. A value
// with more digits than the schema's precision does not belong to the
// schema (writers refuse it), so it is an invalid payload.
func (r *avroReader) decimal(b []byte, d *avro.DecimalLogicalSchema) any {
	num := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		num.Sub(num, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	if digits := len(new(big.Int).Abs(num).String()); digits > d.Precision() {
		r.fail("decimal has %d digits, more than its precision %d", digits, d.Precision())
		return nil
	}
	if !r.build {
		return nil
	}
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale())), nil)
	return new(big.Rat).SetFrac(num, den)
}
