package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// text is a value written as text outside a typed file: an environment
// variable, a --set flag or an interpolated string. Unlike a quoted string
// in a file it may be parsed into any scalar type.
type text struct {
	s      string
	origin string // e.g. "env DANUBE_CONNECT__RETRY__MAX_RETRIES"; "" for interpolation
}

// decoder maps a generic tree onto a struct, collecting every problem.
type decoder struct {
	errs []*FieldError
}

func (d *decoder) fail(path string, raw any, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if t, ok := raw.(text); ok && t.origin != "" {
		msg += " (from " + t.origin + ")"
	}
	d.errs = append(d.errs, &FieldError{Path: path, Msg: msg})
}

// Decode maps tree (as produced by a TOML or YAML decoder into
// map[string]any) onto the struct pointed to by dst, strictly: unknown keys
// and type mismatches are errors naming the full key path. It does not
// apply defaults or validate; see [Load] for the whole pipeline. The error,
// if any, is an *[Error] listing every problem sorted by key path.
func Decode(tree map[string]any, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Decode wants a pointer to a struct, got %T", dst)
	}
	d := &decoder{}
	d.section("", tree, v.Elem(), nil)
	return newError("", d.errs)
}

// section decodes m onto struct v. extra holds additional keys accepted at
// this level (the connector's own section at the document root).
func (d *decoder) section(path string, m map[string]any, v reflect.Value, extra map[string]reflect.Value) {
	fields, err := structFields(v.Type(), "")
	if err != nil {
		d.errs = append(d.errs, &FieldError{Path: orRoot(path), Msg: err.Error()})
		return
	}
	byKey := make(map[string]Field, len(fields))
	known := make([]string, 0, len(fields)+len(extra))
	for _, f := range fields {
		byKey[f.Key] = f
		known = append(known, f.Key)
	}
	for k := range extra {
		known = append(known, k)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw := m[k]
		p := joinPath(path, k)
		if raw == nil { // YAML null: as if absent
			continue
		}
		if f, ok := byKey[k]; ok {
			d.value(p, raw, v.FieldByIndex(f.index))
			continue
		}
		if ev, ok := extra[k]; ok {
			d.value(p, raw, ev)
			continue
		}
		msg := "unknown key"
		if s := suggest(k, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(known) > 0 {
			msg += " (valid keys: " + strings.Join(sortedCopy(known), ", ") + ")"
		}
		d.fail(p, leafOrigin(raw), "%s", msg)
	}
}

func orRoot(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// leafOrigin returns raw if it is text, or the first text found below it,
// so that an unknown key set through the environment names its variable.
func leafOrigin(raw any) any {
	switch x := raw.(type) {
	case text:
		return x
	case map[string]any:
		for _, v := range x {
			if t, ok := leafOrigin(v).(text); ok {
				return t
			}
		}
	}
	return raw
}

// value decodes raw into v (settable).
func (d *decoder) value(path string, raw any, v reflect.Value) {
	t := v.Type()
	if v.CanAddr() && reflect.PointerTo(t).Implements(unmarshalerType) {
		in := raw
		if tx, ok := raw.(text); ok {
			in = tx.s
		}
		if err := v.Addr().Interface().(Unmarshaler).UnmarshalConfig(in); err != nil {
			d.fail(path, raw, "%v", err)
		}
		return
	}
	if tx, ok := raw.(text); ok && !isSection(t) && (t.Kind() != reflect.Slice || !isSection(t.Elem())) {
		if err := setText(v, tx.s); err != nil {
			d.fail(path, raw, "want %s, got %q: %v", typeName(t), tx.s, err)
		}
		return
	}
	switch {
	case t == durationType:
		s, ok := raw.(string)
		if !ok {
			d.fail(path, raw, "want duration string such as \"5s\" or \"250ms\", got %s", describe(raw))
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, raw, "want duration such as \"5s\" or \"250ms\", got %q", s)
			return
		}
		v.SetInt(int64(dur))
	case isSection(t):
		m, ok := raw.(map[string]any)
		if !ok {
			d.fail(path, raw, "want table, got %s", describe(raw))
			return
		}
		d.section(path, m, v, nil)
	}
	if t == durationType || isSection(t) {
		return
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.fail(path, raw, "want string, got %s", describe(raw))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			d.fail(path, raw, "want boolean (true or false), got %s", describe(raw))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := asInt(raw)
		if !ok {
			d.fail(path, raw, "want integer, got %s", describe(raw))
			return
		}
		if v.OverflowInt(n) {
			d.fail(path, raw, "integer %d out of range", n)
			return
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := asInt(raw)
		if !ok {
			d.fail(path, raw, "want integer, got %s", describe(raw))
			return
		}
		if n < 0 {
			d.fail(path, raw, "want a non-negative integer, got %d", n)
			return
		}
		if v.OverflowUint(uint64(n)) {
			d.fail(path, raw, "integer %d out of range", n)
			return
		}
		v.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		f, ok := asFloat(raw)
		if !ok {
			d.fail(path, raw, "want number, got %s", describe(raw))
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		list, ok := raw.([]any)
		if !ok {
			if isSection(t.Elem()) {
				d.fail(path, raw, "want list of tables ([[%s]] in TOML), got %s", lastKey(path), describe(raw))
			} else {
				d.fail(path, raw, "want %s, got %s", typeName(t), describe(raw))
			}
			return
		}
		out := reflect.MakeSlice(t, len(list), len(list))
		for i, item := range list {
			ev := out.Index(i)
			if isSection(t.Elem()) {
				if err := applyDefaults(ev); err != nil {
					d.fail(fmt.Sprintf("%s[%d]", path, i), nil, "%v", err)
				}
			}
			if item == nil {
				d.fail(fmt.Sprintf("%s[%d]", path, i), nil, "null list element")
				continue
			}
			d.value(fmt.Sprintf("%s[%d]", path, i), item, ev)
		}
		v.Set(out)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.fail(path, raw, "unsupported map key type %s", t.Key())
			return
		}
		m, ok := raw.(map[string]any)
		if !ok {
			d.fail(path, raw, "want table of %s, got %s", typeName(t.Elem()), describe(raw))
			return
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for _, k := range sortedKeys(m) {
			ev := reflect.New(t.Elem()).Elem()
			d.value(joinPath(path, k), m[k], ev)
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		v.Set(out)
	default:
		d.fail(path, raw, "unsupported field type %s", t)
	}
}

func lastKey(path string) string {
	if i := strings.LastIndexAny(path, ".]"); i >= 0 {
		return path[i+1:]
	}
	return path
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func asInt(raw any) (int64, bool) {
	switch n := raw.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float64: // YAML and JSON write some integers as floats
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

func asFloat(raw any) (float64, bool) {
	switch n := raw.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// describe names the type and value of a raw value for error messages.
func describe(raw any) string {
	switch x := raw.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case text:
		return fmt.Sprintf("%q", x.s)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case int64, int, uint64:
		return fmt.Sprintf("integer %v", x)
	case float64:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "list"
	case map[string]any:
		return "table"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", raw)
}

// setText parses s into v according to v's type. It is used for defaults
// and for values from the environment and the command line.
func setText(v reflect.Value, s string) error {
	t := v.Type()
	if v.CanAddr() && reflect.PointerTo(t).Implements(unmarshalerType) {
		return v.Addr().Interface().(Unmarshaler).UnmarshalConfig(s)
	}
	if t == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("not a duration such as \"5s\"")
		}
		v.SetInt(int64(d))
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("not a boolean (true or false)")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return errors.New("not an integer in range")
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return errors.New("not a non-negative integer in range")
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return errors.New("not a number")
		}
		v.SetFloat(f)
	case reflect.Slice:
		if isSection(t.Elem()) {
			return errors.New("a list of tables cannot be written as text")
		}
		var parts []string
		if s != "" {
			parts = strings.Split(s, ",")
		}
		out := reflect.MakeSlice(t, len(parts), len(parts))
		for i, p := range parts {
			if err := setText(out.Index(i), strings.TrimSpace(p)); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		v.Set(out)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("unsupported map key type %s", t.Key())
		}
		out := reflect.MakeMap(t)
		if s != "" {
			for _, kv := range strings.Split(s, ",") {
				k, val, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("entry %q: want key=value", kv)
				}
				ev := reflect.New(t.Elem()).Elem()
				if err := setText(ev, strings.TrimSpace(val)); err != nil {
					return fmt.Errorf("entry %q: %w", kv, err)
				}
				out.SetMapIndex(reflect.ValueOf(strings.TrimSpace(k)).Convert(t.Key()), ev)
			}
		}
		v.Set(out)
	default:
		return fmt.Errorf("unsupported type %s", t)
	}
	return nil
}
