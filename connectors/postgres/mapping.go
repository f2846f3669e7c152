package postgres

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/danube-connect/connect"
)

// rowValues holds one record's column values as PostgreSQL text input:
// vals[i] is nil for NULL.
type rowValues [][]byte

// root returns the value dotted paths are looked up in: the value decoded
// by the topic's registry decoder, or the JSON payload.
func root(rec *connect.SinkRecord) (any, error) {
	if rec.Value != nil {
		if _, raw := rec.Value.([]byte); !raw {
			return rec.Value, nil
		}
	}
	d := json.NewDecoder(bytes.NewReader(rec.Payload))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("payload is not JSON: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("payload is not one JSON value")
	}
	return v, nil
}

// lookup follows path through nested maps; ok is false when a step is
// missing.
func lookup(v any, path []string) (any, bool) {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// gjsonPath turns a dotted path into a gjson path, escaping gjson's
// special characters in each step.
func gjsonPath(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		for _, r := range p {
			if strings.ContainsRune(`\.*?|#@!=<>%"`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// jsonText returns the text of a JSON value found by gjson; nil for null.
func jsonText(r gjson.Result) []byte {
	switch r.Type {
	case gjson.Null:
		return nil
	case gjson.String:
		return []byte(r.Str)
	case gjson.True:
		return []byte("true")
	case gjson.False:
		return []byte("false")
	}
	return []byte(r.Raw) // numbers as written; objects and arrays as JSON
}

// values computes the column values of rec for the table's columns.
// Paths are read straight from a JSON payload (gjson, no decoding into
// maps) or from the value a registry decoder produced.
func (t *table) values(rec *connect.SinkRecord) (rowValues, error) {
	out := make(rowValues, len(t.cols))
	var doc any
	parsed := false
	structured := rec.Value != nil
	if _, raw := rec.Value.([]byte); raw {
		structured = false
	}
	checked := false
	for i, c := range t.cols {
		var v []byte
		switch c.kind {
		case srcPath:
			if !structured {
				if !checked {
					if !gjson.ValidBytes(rec.Payload) {
						return nil, fmt.Errorf("payload is not JSON")
					}
					checked = true
				}
				r := gjson.GetBytes(rec.Payload, c.gpath)
				if !r.Exists() {
					continue
				}
				v = jsonText(r)
				if v == nil {
					continue
				}
				break
			}
			if !parsed {
				var err error
				if doc, err = root(rec); err != nil {
					return nil, err
				}
				parsed = true
			}
			x, ok := lookup(doc, c.path)
			if !ok || x == nil {
				continue
			}
			var err error
			if v, err = text(x); err != nil {
				return nil, fmt.Errorf("column %s: %w", c.name, err)
			}
		case srcTopic:
			v = []byte(rec.Topic)
		case srcPartition:
			v = strconv.AppendInt(nil, int64(max(rec.Partition, 0)), 10)
		case srcOffset:
			v = strconv.AppendUint(nil, rec.Offset, 10)
		case srcPublishTime:
			if rec.PublishTime.IsZero() {
				continue
			}
			v = rec.PublishTime.UTC().AppendFormat(nil, time.RFC3339Nano)
		case srcRecordID:
			id := rec.RecordID()
			if id == "" {
				continue
			}
			v = []byte(id)
		case srcKey:
			if rec.Key == "" {
				continue
			}
			v = []byte(rec.Key)
		case srcAttributes:
			b, err := json.Marshal(rec.Attributes)
			if err != nil {
				return nil, fmt.Errorf("attributes: %w", err)
			}
			if rec.Attributes == nil {
				b = []byte("{}")
			}
			v = b
		case srcPayload:
			b, err := payloadJSON(rec)
			if err != nil {
				return nil, err
			}
			v = b
		}
		out[i] = v
	}
	return out, nil
}

// payloadJSON returns the record as JSON text: the payload itself unless a
// registry decoder produced a structured value (Avro), which is marshalled.
func payloadJSON(rec *connect.SinkRecord) ([]byte, error) {
	if rec.Value != nil && rec.Schema.Type == "avro" {
		b, err := json.Marshal(jsonable(rec.Value))
		if err != nil {
			return nil, fmt.Errorf("payload as JSON: %w", err)
		}
		return b, nil
	}
	if !json.Valid(rec.Payload) {
		return nil, fmt.Errorf("payload is not JSON")
	}
	return rec.Payload, nil
}

// jsonable turns the Avro generic values encoding/json cannot write as
// intended (fixed arrays, big.Rat, durations) into JSON-friendly ones.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonable(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = jsonable(e)
		}
		return s
	case *big.Rat:
		return json.Number(ratString(x))
	case time.Duration:
		return x.String()
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return b
	}
	return v
}

// text renders a decoded value as PostgreSQL text input: numbers in plain
// decimal, times in RFC 3339, bytes as bytea hex, objects and arrays as
// JSON.
func text(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case json.Number:
		return []byte(x), nil
	case bool:
		return strconv.AppendBool(nil, x), nil
	case float64:
		return strconv.AppendFloat(nil, x, 'f', -1, 64), nil
	case float32:
		return strconv.AppendFloat(nil, float64(x), 'f', -1, 32), nil
	case int:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(nil, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(nil, x, 10), nil
	case time.Time:
		return x.UTC().AppendFormat(nil, time.RFC3339Nano), nil
	case time.Duration:
		return fmt.Appendf(nil, "%d microseconds", x.Microseconds()), nil
	case *big.Rat:
		return []byte(ratString(x)), nil
	case []byte:
		return append([]byte(`\x`), hex.EncodeToString(x)...), nil
	case map[string]any, []any:
		return json.Marshal(jsonable(x))
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return append([]byte(`\x`), hex.EncodeToString(b)...), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value of type %T cannot be written: %w", v, err)
	}
	return b, nil
}

// ratString writes r exactly when it is a finite decimal, else with 20
// fractional digits.
func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	if n, exact := r.FloatPrec(); exact {
		return r.FloatString(n)
	}
	return r.FloatString(20)
}

// appendCopyText appends vals as one line of COPY text format.
func appendCopyText(b []byte, vals rowValues) []byte {
	for i, v := range vals {
		if i > 0 {
			b = append(b, '\t')
		}
		if v == nil {
			b = append(b, `\N`...)
			continue
		}
		start := 0
		for j, c := range v {
			var esc string
			switch c {
			case '\\':
				esc = `\\`
			case '\n':
				esc = `\n`
			case '\r':
				esc = `\r`
			case '\t':
				esc = `\t`
			default:
				continue
			}
			b = append(b, v[start:j]...)
			b = append(b, esc...)
			start = j + 1
		}
		b = append(b, v[start:]...)
	}
	return append(b, '\n')
}
