package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Validator is implemented by config structs with rules beyond the tags
// (cross-field checks). Validate is called after the tags were checked, on
// every section and list element that implements it; errors made with
// [Errorf] name a key relative to the section, and the caller prefixes the
// section's path. Return every problem, joined with errors.Join.
type Validator interface {
	Validate() error
}

// Errorf returns a problem with key (relative to the section being
// validated, dotted for nested keys) for use in a Validator.
func Errorf(key, format string, args ...any) error {
	return &FieldError{Path: key, Msg: fmt.Sprintf(format, args...)}
}

// ApplyDefaults sets every zero field of the struct pointed to by dst that
// has a `default` tag to its default, recursively through sections. List
// elements get their defaults when they are decoded.
func ApplyDefaults(dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: ApplyDefaults wants a pointer to a struct, got %T", dst)
	}
	return applyDefaults(v.Elem())
}

func applyDefaults(v reflect.Value) error {
	fields, err := structFields(v.Type(), "")
	if err != nil {
		return err
	}
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		if isSection(f.typ) {
			if err := applyDefaults(fv); err != nil {
				return err
			}
			continue
		}
		if f.Default == "" || !fv.IsZero() {
			continue
		}
		if err := setText(fv, f.Default); err != nil {
			return fmt.Errorf("config: default of %s: %w", f.Key, err)
		}
	}
	return nil
}

// Validate checks the struct pointed to by src against its tags (required,
// enum, min, max) and calls Validate on every section implementing
// [Validator]. The error, if any, is an *[Error] listing every problem
// sorted by key path. Enum values are matched case-insensitively and
// rewritten to their canonical spelling.
func Validate(src any) error {
	v := reflect.ValueOf(src)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Validate wants a pointer to a struct, got %T", src)
	}
	var errs []*FieldError
	validateStruct("", v.Elem(), &errs)
	return newError("", errs)
}

func validateStruct(path string, v reflect.Value, errs *[]*FieldError) {
	fields, err := structFields(v.Type(), "")
	if err != nil {
		*errs = append(*errs, &FieldError{Path: orRoot(path), Msg: err.Error()})
		return
	}
	for _, f := range fields {
		p := joinPath(path, f.Key)
		fv := v.FieldByIndex(f.index)
		switch {
		case isSection(f.typ):
			validateStruct(p, fv, errs)
			continue
		case fv.Kind() == reflect.Slice && isSection(f.typ.Elem()):
			if f.Required && fv.Len() == 0 {
				*errs = append(*errs, &FieldError{Path: p, Msg: "required: at least one entry"})
			}
			for i := range fv.Len() {
				validateStruct(fmt.Sprintf("%s[%d]", p, i), fv.Index(i), errs)
			}
			continue
		}
		if f.Required && fv.IsZero() {
			*errs = append(*errs, &FieldError{Path: p, Msg: "required" + hintFor(f)})
			continue
		}
		if len(f.Enum) > 0 && fv.Kind() == reflect.String && fv.String() != "" {
			if canon, ok := f.Aliases[strings.ToLower(fv.String())]; ok {
				fv.SetString(canon)
			} else if canon, ok := matchEnum(fv.String(), f.Enum); ok {
				fv.SetString(canon)
			} else {
				msg := fmt.Sprintf("%q is not one of %s", fv.String(), strings.Join(f.Enum, ", "))
				if s := suggest(strings.ToLower(fv.String()), f.Enum); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				*errs = append(*errs, &FieldError{Path: p, Msg: msg})
			}
		}
		if f.Min != "" || f.Max != "" {
			if msg := checkBounds(f, fv); msg != "" {
				*errs = append(*errs, &FieldError{Path: p, Msg: msg})
			}
		}
	}
	if v.CanAddr() {
		if val, ok := v.Addr().Interface().(Validator); ok {
			if err := val.Validate(); err != nil {
				for _, e := range flatten(err) {
					var fe *FieldError
					if errors.As(e, &fe) {
						*errs = append(*errs, &FieldError{Path: joinPath(path, fe.Path), Msg: fe.Msg})
					} else {
						*errs = append(*errs, &FieldError{Path: orRoot(path), Msg: e.Error()})
					}
				}
			}
		}
	}
}

func hintFor(f Field) string {
	if len(f.Enum) > 0 {
		return " (one of " + strings.Join(f.Enum, ", ") + ")"
	}
	return ""
}

func matchEnum(s string, enum []string) (string, bool) {
	for _, e := range enum {
		if strings.EqualFold(s, e) {
			return e, true
		}
	}
	// Accept the Rust spellings of enum variants ("FailOver", "KeyShared").
	flat := strings.ReplaceAll(strings.ToLower(s), "_", "")
	for _, e := range enum {
		if strings.ReplaceAll(e, "_", "") == flat {
			return e, true
		}
	}
	return "", false
}

func checkBounds(f Field, fv reflect.Value) string {
	var x float64
	switch {
	case fv.CanInt():
		x = float64(fv.Int())
	case fv.CanUint():
		x = float64(fv.Uint())
	case fv.CanFloat():
		x = fv.Float()
	default:
		return ""
	}
	show := func(b string) string { return b }
	cur := fmt.Sprint(fv.Interface())
	if f.typ == durationType {
		cur = time.Duration(fv.Int()).String()
	}
	if f.Min != "" {
		if lo, err := boundOf(f.typ, f.Min); err == nil && x < lo {
			if f.Max != "" {
				return fmt.Sprintf("%s is out of range %s..%s", cur, show(f.Min), show(f.Max))
			}
			return fmt.Sprintf("%s is below the minimum %s", cur, show(f.Min))
		}
	}
	if f.Max != "" {
		if hi, err := boundOf(f.typ, f.Max); err == nil && x > hi {
			if f.Min != "" {
				return fmt.Sprintf("%s is out of range %s..%s", cur, show(f.Min), show(f.Max))
			}
			return fmt.Sprintf("%s is above the maximum %s", cur, show(f.Max))
		}
	}
	return ""
}

// flatten expands joined errors (errors.Join, *Error) into their parts.
func flatten(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
