package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Redacted replaces the value of every non-empty secret key in dumps and
// logs.
const Redacted = "[redacted]"

// Dump renders the struct pointed to by v as TOML in declaration order,
// with secrets replaced by [Redacted]. prefix is the table the keys live
// in ("" for the document root). The output loads back with the same
// meaning, secrets aside.
func Dump(v any, prefix string) string {
	rv := reflect.Indirect(reflect.ValueOf(v))
	var b strings.Builder
	if rv.Kind() == reflect.Struct {
		dumpStruct(&b, prefix, rv, false)
	}
	return b.String()
}

// Dump renders the document (core and connector section) as TOML with
// secrets redacted: the effective configuration after defaults, the
// environment and flags.
func (d *Document) Dump() string {
	var b strings.Builder
	b.WriteString(Dump(&d.Core, ""))
	if d.Connector != nil {
		b.WriteString(Dump(d.Connector, d.Core.Connector))
	}
	return b.String()
}

func dumpStruct(b *strings.Builder, prefix string, v reflect.Value, arrayElem bool) {
	fields, err := structFields(v.Type(), "")
	if err != nil {
		return
	}
	header := func() {}
	if prefix != "" {
		header = func() {
			if arrayElem {
				fmt.Fprintf(b, "\n[[%s]]\n", prefix)
			} else {
				fmt.Fprintf(b, "\n[%s]\n", prefix)
			}
		}
	}
	header()
	var nested []Field
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		if isSection(f.typ) || (f.typ.Kind() == reflect.Slice && isSection(f.typ.Elem())) {
			nested = append(nested, f)
			continue
		}
		fmt.Fprintf(b, "%s = %s\n", f.Key, tomlValue(fv, f.Secret))
	}
	for _, f := range nested {
		fv := v.FieldByIndex(f.index)
		p := joinPath(prefix, f.Key)
		if fv.Kind() == reflect.Slice {
			for i := range fv.Len() {
				dumpStruct(b, p, fv.Index(i), true)
			}
			continue
		}
		dumpStruct(b, p, fv, false)
	}
}

func tomlValue(v reflect.Value, secret bool) string {
	if secret && !v.IsZero() {
		return strconv.Quote(Redacted)
	}
	if vs, ok := v.Interface().(VersionStrategy); ok {
		if n, ok := vs.Pinned(); ok {
			return fmt.Sprintf("{ pinned = %d }", n)
		}
		if n, ok := vs.Minimum(); ok {
			return fmt.Sprintf("{ minimum = %d }", n)
		}
		return `"latest"`
	}
	if v.Type() == durationType {
		return strconv.Quote(time.Duration(v.Int()).String())
	}
	if s, ok := v.Interface().(fmt.Stringer); ok {
		return strconv.Quote(s.String())
	}
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		s := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = tomlValue(v.Index(i), false)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + " = " + tomlValue(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())), secret)
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return strconv.Quote(fmt.Sprint(v.Interface()))
}

// LogValue returns the struct pointed to by v as a slog group with secrets
// redacted. Config types implement slog.LogValuer with it, so logging a
// configuration never leaks a secret.
func LogValue(v any) slog.Value {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return slog.AnyValue(v)
	}
	return logStruct(rv)
}

func logStruct(v reflect.Value) slog.Value {
	fields, err := structFields(v.Type(), "")
	if err != nil {
		return slog.StringValue(err.Error())
	}
	attrs := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		switch {
		case f.Secret && !fv.IsZero():
			attrs = append(attrs, slog.String(f.Key, Redacted))
		case isSection(f.typ):
			attrs = append(attrs, slog.Attr{Key: f.Key, Value: logStruct(fv)})
		case fv.Kind() == reflect.Slice && isSection(f.typ.Elem()):
			for i := range fv.Len() {
				attrs = append(attrs, slog.Attr{Key: fmt.Sprintf("%s[%d]", f.Key, i), Value: logStruct(fv.Index(i))})
			}
		case f.typ == durationType:
			attrs = append(attrs, slog.Duration(f.Key, time.Duration(fv.Int())))
		default:
			attrs = append(attrs, slog.Any(f.Key, fv.Interface()))
		}
	}
	return slog.GroupValue(attrs...)
}
