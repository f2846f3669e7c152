package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Struct tags understood by this package. Every exported field of a config
// struct that carries a `config` tag is a key; fields without one are
// ignored. The same tags drive parsing, defaults, validation, redaction and
// the generated reference documentation.
const (
	TagKey      = "config"   // key name, snake_case: `config:"max_retries"`
	TagDefault  = "default"  // default value in the text form a file would use: `default:"5s"`
	TagDoc      = "doc"      // one-line description for the reference docs
	TagSecret   = "secret"   // `secret:"true"`: redacted in logs and dumps
	TagEnum     = "enum"     // allowed values, comma separated: `enum:"nack,dead_letter"`
	TagAlias    = "alias"    // other spellings of enum values: `alias:"json=json_schema"`
	TagRequired = "required" // `required:"true"`: the zero value is an error
	TagMin      = "min"      // inclusive lower bound of a number or duration
	TagMax      = "max"      // inclusive upper bound of a number or duration
)

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
)

// Unmarshaler is implemented by config types with their own syntax (for
// example a version strategy written "latest" or {pinned = 3}). raw is
// what the file held: string, int64, float64, bool, []any or map[string]any;
// values that came from the environment, a --set flag or an interpolated
// string arrive as string. A returned error is reported against the key.
type Unmarshaler interface {
	UnmarshalConfig(raw any) error
}

// Field describes one configuration key, as declared by struct tags.
type Field struct {
	// Key is the key name within its section.
	Key string
	// Path is the full dotted key path from the document root; list
	// elements appear as "[]" (e.g. "topics[].subscription").
	Path string
	// Type is a human readable type name: string, integer, number, boolean,
	// duration, list of …, table, list of tables, map.
	Type string
	// Default is the default in file syntax, "" when there is none.
	Default string
	// Doc is the description.
	Doc string
	// Secret marks values redacted in logs and dumps.
	Secret bool
	// Required marks keys whose zero value is an error.
	Required bool
	// Enum lists the allowed values, if restricted.
	Enum []string
	// Aliases maps other accepted spellings of enum values to the value
	// they stand for (from the alias tag).
	Aliases map[string]string
	// Min and Max are the inclusive bounds in tag syntax, "" when unbounded.
	Min, Max string
	// Fields are the keys of a table or list of tables.
	Fields []Field

	index []int
	typ   reflect.Type
}

// Fields returns the keys declared by the struct (or pointer to struct) v,
// in declaration order, with nested sections expanded. It reports malformed
// tags (an unparsable default, min or max) as an error.
func Fields(v any) ([]Field, error) {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: Fields wants a struct, got %T", v)
	}
	return structFields(t, "")
}

func structFields(t reflect.Type, prefix string) ([]Field, error) {
	var out []Field
	for i := range t.NumField() {
		sf := t.Field(i)
		key, ok := sf.Tag.Lookup(TagKey)
		if !ok || key == "" || key == "-" || !sf.IsExported() {
			continue
		}
		f := Field{
			Key:      key,
			Path:     joinPath(prefix, key),
			Default:  sf.Tag.Get(TagDefault),
			Doc:      sf.Tag.Get(TagDoc),
			Secret:   sf.Tag.Get(TagSecret) == "true",
			Required: sf.Tag.Get(TagRequired) == "true",
			Min:      sf.Tag.Get(TagMin),
			Max:      sf.Tag.Get(TagMax),
			index:    sf.Index,
			typ:      sf.Type,
		}
		if e := sf.Tag.Get(TagEnum); e != "" {
			f.Enum = strings.Split(e, ",")
		}
		if a := sf.Tag.Get(TagAlias); a != "" {
			f.Aliases = map[string]string{}
			for _, kv := range strings.Split(a, ",") {
				k, v, _ := strings.Cut(kv, "=")
				f.Aliases[k] = v
			}
		}
		f.Type = typeName(sf.Type)
		switch {
		case isSection(sf.Type):
			sub, err := structFields(sf.Type, f.Path)
			if err != nil {
				return nil, err
			}
			f.Fields = sub
		case sf.Type.Kind() == reflect.Slice && isSection(sf.Type.Elem()):
			sub, err := structFields(sf.Type.Elem(), f.Path+"[]")
			if err != nil {
				return nil, err
			}
			f.Fields = sub
		}
		if err := f.checkTags(); err != nil {
			return nil, fmt.Errorf("config: field %s.%s: %w", t.Name(), sf.Name, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// checkTags parses the default, min and max tags once so that a typo in a
// struct tag is found by any test that calls Fields.
func (f *Field) checkTags() error {
	if f.Default != "" && !isSection(f.typ) {
		v := reflect.New(f.typ).Elem()
		if err := setText(v, f.Default); err != nil {
			return fmt.Errorf("default %q: %w", f.Default, err)
		}
	}
	for k, v := range f.Aliases {
		if k != strings.ToLower(k) || !slices.Contains(f.Enum, v) {
			return fmt.Errorf("alias %s=%s: want a lower-case alias of an enum value", k, v)
		}
	}
	for _, b := range []string{f.Min, f.Max} {
		if b == "" {
			continue
		}
		if _, err := boundOf(f.typ, b); err != nil {
			return fmt.Errorf("bound %q: %w", b, err)
		}
	}
	return nil
}

// isSection reports whether t is decoded as a table of keys: a struct that
// is not a special scalar and has no UnmarshalConfig method.
func isSection(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || t == durationType {
		return false
	}
	return !reflect.PointerTo(t).Implements(unmarshalerType)
}

func typeName(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if n, ok := reflect.New(t).Interface().(interface{ ConfigType() string }); ok {
			return n.ConfigType()
		}
		return "value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct:
		return "table"
	case reflect.Slice:
		if isSection(t.Elem()) {
			return "list of tables"
		}
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	}
	return t.String()
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// boundOf parses a min/max tag for a field of type t into a float64
// (durations in nanoseconds).
func boundOf(t reflect.Type, s string) (float64, error) {
	if t == durationType {
		d, err := time.ParseDuration(s)
		return float64(d), err
	}
	return strconv.ParseFloat(s, 64)
}
