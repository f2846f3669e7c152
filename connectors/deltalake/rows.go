package deltalake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/danube-connect/connect"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// encoder turns records into Parquet rows of a table's data files and
// partition values.
type encoder struct {
	schema *tableSchema
	pq     *parquet.Schema
	leafOf []int // column index → leaf index, -1 for partition columns
	partOf []int // column index → index in schema.Partition, -1 otherwise
	leaves int
	codec  compress.Codec
}

func newEncoder(s *tableSchema, compression string) *encoder {
	pq, leafCols := s.dataSchema()
	e := &encoder{schema: s, pq: pq, leaves: len(leafCols), leafOf: make([]int, len(s.Columns)), partOf: make([]int, len(s.Columns))}
	for i := range s.Columns {
		e.leafOf[i], e.partOf[i] = -1, -1
	}
	for leaf, col := range leafCols {
		e.leafOf[col] = leaf
	}
	for p, name := range s.Partition {
		for i, c := range s.Columns {
			if c.Name == name {
				e.partOf[i] = p
			}
		}
	}
	switch compression {
	case "zstd":
		e.codec = &parquet.Zstd
	case "gzip":
		e.codec = &parquet.Gzip
	case "none":
		e.codec = &parquet.Uncompressed
	default:
		e.codec = &parquet.Snappy
	}
	return e
}

// row converts one record. A value that does not fit its column is an
// InvalidData error naming the column and the record.
func (e *encoder) row(rec *connect.SinkRecord) (parquet.Row, []string, error) {
	var obj map[string]any
	needData := false
	for _, c := range e.schema.Columns {
		if c.Meta == "" {
			needData = true
			break
		}
	}
	if needData {
		var err error
		if obj, err = recordObject(rec); err != nil {
			return nil, nil, err
		}
	}
	row := make(parquet.Row, e.leaves)
	var part []string
	if len(e.schema.Partition) > 0 {
		part = make([]string, len(e.schema.Partition))
	}
	for i := range e.schema.Columns {
		c := &e.schema.Columns[i]
		var raw any
		if c.Meta != "" {
			raw = metaValue(rec, c.Meta)
		} else {
			raw = lookup(obj, c.Path)
		}
		v, err := convert(c.Type, raw)
		if err != nil {
			return nil, nil, connect.InvalidData(fmt.Errorf("deltalake: %s offset %d: column %q (%s): %w", rec.PartitionTopic, rec.Offset, c.Name, c.Type, err))
		}
		if v.IsNull() && !c.Nullable {
			return nil, nil, connect.InvalidData(fmt.Errorf("deltalake: %s offset %d: column %q is not nullable and the record has no value at %q", rec.PartitionTopic, rec.Offset, c.Name, strings.Join(c.Path, ".")))
		}
		if p := e.partOf[i]; p >= 0 {
			part[p] = partitionString(c.Type, v)
			continue
		}
		def := 0
		if c.Nullable && !v.IsNull() {
			def = 1
		}
		row[e.leafOf[i]] = v.Level(0, def, e.leafOf[i])
	}
	return row, part, nil
}

// recordObject returns the record's value as a JSON-like object: the value
// decoded by the topic's registry decoder, or the payload parsed as JSON.
func recordObject(rec *connect.SinkRecord) (map[string]any, error) {
	if m, ok := rec.Value.(map[string]any); ok {
		return m, nil
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, connect.InvalidData(fmt.Errorf("deltalake: %s offset %d: payload is not a JSON object: %w", rec.PartitionTopic, rec.Offset, err))
	}
	return m, nil
}

func lookup(obj map[string]any, path []string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func metaValue(rec *connect.SinkRecord, meta string) any {
	switch meta {
	case "topic":
		return rec.Topic
	case "partition":
		return int64(rec.Partition)
	case "offset":
		return int64(rec.Offset)
	case "publish_time":
		return rec.PublishTime
	case "record_id":
		if id := rec.RecordID(); id != "" {
			return id
		}
	}
	return nil
}

// convert converts a decoded value to a Parquet value of a Delta type; nil
// converts to a null value.
func convert(typ string, raw any) (parquet.Value, error) {
	if m, ok := raw.(map[string]any); ok && len(m) == 1 && typ != TypeString {
		for _, v := range m { // an Avro union branch {"type": value}
			raw = v
		}
	}
	if raw == nil {
		return parquet.NullValue(), nil
	}
	switch typ {
	case TypeString:
		switch v := raw.(type) {
		case string:
			return parquet.ByteArrayValue([]byte(v)), nil
		case map[string]any:
			for _, s := range v {
				if str, ok := s.(string); ok && len(v) == 1 {
					return parquet.ByteArrayValue([]byte(str)), nil
				}
			}
		}
	case TypeLong, TypeInteger:
		n, ok, err := asInt(raw)
		if err != nil {
			return parquet.Value{}, err
		}
		if ok {
			if typ == TypeLong {
				return parquet.Int64Value(n), nil
			}
			if n < math.MinInt32 || n > math.MaxInt32 {
				return parquet.Value{}, fmt.Errorf("%d is out of the integer range", n)
			}
			return parquet.Int32Value(int32(n)), nil
		}
	case TypeDouble, TypeFloat:
		f, ok := asFloat(raw)
		if ok {
			if typ == TypeDouble {
				return parquet.DoubleValue(f), nil
			}
			return parquet.FloatValue(float32(f)), nil
		}
	case TypeBoolean:
		if b, ok := raw.(bool); ok {
			return parquet.BooleanValue(b), nil
		}
	case TypeTimestamp:
		switch v := raw.(type) {
		case time.Time:
			return parquet.Int64Value(v.UnixMicro()), nil
		case string:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return parquet.Value{}, fmt.Errorf("%q is not an RFC 3339 time", v)
			}
			return parquet.Int64Value(t.UnixMicro()), nil
		default:
			if ms, ok, err := asInt(raw); err == nil && ok {
				return parquet.Int64Value(ms * 1000), nil
			}
		}
	case TypeDate:
		switch v := raw.(type) {
		case time.Time:
			return parquet.Int32Value(int32(v.Unix() / 86400)), nil
		case string:
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return parquet.Value{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", v)
			}
			return parquet.Int32Value(int32(t.Unix() / 86400)), nil
		}
	case TypeBinary:
		switch v := raw.(type) {
		case []byte:
			return parquet.ByteArrayValue(v), nil
		case string:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return parquet.Value{}, fmt.Errorf("not base64: %w", err)
			}
			return parquet.ByteArrayValue(b), nil
		}
	}
	return parquet.Value{}, fmt.Errorf("cannot write a %s as %s", describe(raw), typ)
}

func asInt(raw any) (int64, bool, error) {
	switch v := raw.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s is not a whole number in range", v)
		}
		return n, true, nil
	case int:
		return int64(v), true, nil
	case int32:
		return int64(v), true, nil
	case int64:
		return v, true, nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, false, fmt.Errorf("%v is not a whole number", v)
		}
		return int64(v), true, nil
	}
	return 0, false, nil
}

func asFloat(raw any) (float64, bool) {
	switch v := raw.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case float64:
		return v, true
	case float32:
		return float64(v), true
	case int:
		return float64(v), true
	case int32:
		return float64(v), true
	case int64:
		return float64(v), true
	}
	return 0, false
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number, float64, float32, int, int32, int64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// partitionString formats a partition value as the Delta log writes it.
func partitionString(typ string, v parquet.Value) string {
	switch typ {
	case TypeLong:
		return strconv.FormatInt(v.Int64(), 10)
	case TypeInteger:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case TypeBoolean:
		return strconv.FormatBool(v.Boolean())
	case TypeDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly)
	}
	return string(v.ByteArray())
}

// encodeFile writes rows as one Parquet file and counts the nulls of each
// data column.
func (e *encoder) encodeFile(rows []parquet.Row) ([]byte, map[string]int64, error) {
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, e.pq, parquet.Compression(e.codec))
	if _, err := w.WriteRows(rows); err != nil {
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	nulls := map[string]int64{}
	for i, c := range e.schema.Columns {
		leaf := e.leafOf[i]
		if leaf < 0 {
			continue
		}
		n := int64(0)
		for _, r := range rows {
			if r[leaf].IsNull() {
				n++
			}
		}
		nulls[c.Name] = n
	}
	return buf.Bytes(), nulls, nil
}
