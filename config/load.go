package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the environment variables that override any key: the
// rest of the name is the key path with "__" between path segments, in any
// case. DANUBE_CONNECT__RETRY__MAX_RETRIES=5 sets retry.max_retries;
// DANUBE_CONNECT__TOPICS__0__SUBSCRIPTION=s sets topics[0].subscription.
// Single underscores belong to key names, so the mapping is unambiguous.
const EnvPrefix = "DANUBE_CONNECT__"

// Environment variables with a fixed meaning, kept from the Rust SDK.
const (
	// EnvServiceURL overrides danube_service_url.
	EnvServiceURL = "DANUBE_SERVICE_URL"
	// EnvConnectorName overrides connector_name.
	EnvConnectorName = "CONNECTOR_NAME"
	// EnvConfigPath names the configuration file when no -c flag is given.
	EnvConfigPath = "CONNECTOR_CONFIG_PATH"
)

// Format is the syntax of a configuration file.
type Format int

// Formats.
const (
	TOML Format = iota
	YAML
)

// FormatOf returns the format implied by a file name: YAML for .yaml and
// .yml, TOML otherwise.
func FormatOf(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return YAML
	}
	return TOML
}

// Options are the sources layered over a file, in order of precedence:
// defaults < file < environment < Set.
type Options struct {
	// Env is the environment as "KEY=VALUE" pairs (usually os.Environ()).
	// It supplies ${VAR} interpolation, the EnvServiceURL and
	// EnvConnectorName aliases and EnvPrefix overrides. Nil means an empty
	// environment.
	Env []string
	// Set are "key.path=value" overrides from the command line (--set);
	// list elements are addressed as topics[0].topic or topics.0.topic.
	Set []string
}

func (o Options) lookup(name string) (string, bool) {
	for i := len(o.Env) - 1; i >= 0; i-- {
		k, v, ok := strings.Cut(o.Env[i], "=")
		if ok && k == name {
			return v, true
		}
	}
	return "", false
}

// Parse decodes data in the given format into a generic tree. Syntax
// errors name the line.
func Parse(source string, data []byte, f Format) (map[string]any, error) {
	tree := map[string]any{}
	switch f {
	case YAML:
		if len(bytes.TrimSpace(data)) == 0 {
			return tree, nil
		}
		var raw any
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, newError(source, []*FieldError{{Path: "(syntax)", Msg: strings.TrimPrefix(err.Error(), "yaml: ")}})
		}
		n, err := normalizeYAML(raw, "")
		if err != nil {
			return nil, newError(source, []*FieldError{{Path: "(syntax)", Msg: err.Error()}})
		}
		if n == nil {
			return tree, nil
		}
		m, ok := n.(map[string]any)
		if !ok {
			return nil, newError(source, []*FieldError{{Path: "(root)", Msg: "want a mapping of keys at the top level, got " + describe(n)}})
		}
		return m, nil
	default:
		if err := toml.Unmarshal(data, &tree); err != nil {
			var de *toml.DecodeError
			if errors.As(err, &de) {
				row, col := de.Position()
				return nil, newError(source, []*FieldError{{Path: fmt.Sprintf("(syntax) line %d column %d", row, col), Msg: de.Error()}})
			}
			return nil, newError(source, []*FieldError{{Path: "(syntax)", Msg: err.Error()}})
		}
		return tree, nil
	}
}

// normalizeYAML turns YAML's generic values into the shapes TOML produces:
// maps with string keys, int64 integers.
func normalizeYAML(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			n, err := normalizeYAML(e, joinPath(path, k))
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%s: key %v: keys must be strings", orRoot(path), k)
			}
			n, err := normalizeYAML(e, joinPath(path, ks))
			if err != nil {
				return nil, err
			}
			out[ks] = n
		}
		return out, nil
	case []any:
		for i, e := range x {
			n, err := normalizeYAML(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case int:
		return int64(x), nil
	case uint64:
		return x, nil
	}
	return v, nil
}

var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// interpolate replaces ${VAR} and ${VAR:-default} in every string of tree
// with values from the environment ("$$" is a literal "$"). A replaced
// string becomes text, so "${RETRIES:-5}" may fill an integer key. An unset
// variable without a default is an error naming the key.
func interpolate(node any, path string, o Options, errs *[]*FieldError) any {
	switch x := node.(type) {
	case map[string]any:
		for k, v := range x {
			x[k] = interpolate(v, joinPath(path, k), o, errs)
		}
	case []any:
		for i, v := range x {
			x[i] = interpolate(v, fmt.Sprintf("%s[%d]", path, i), o, errs)
		}
	case string:
		if !strings.Contains(x, "$") {
			return x
		}
		changed := false
		out := interpolation.ReplaceAllStringFunc(x, func(m string) string {
			changed = true
			if m == "$$" {
				return "$"
			}
			sub := interpolation.FindStringSubmatch(m)
			if v, ok := o.lookup(sub[1]); ok && (v != "" || sub[2] == "") {
				return v
			}
			if sub[2] != "" {
				return sub[3]
			}
			*errs = append(*errs, &FieldError{Path: path, Msg: fmt.Sprintf("environment variable %s is not set (write ${%s:-default} for a default)", sub[1], sub[1])})
			return ""
		})
		if changed {
			return text{s: out}
		}
	}
	return node
}

// setPath stores val at the key path segs below node and returns the new
// node. Numeric segments index lists; index len(list) appends.
func setPath(node any, segs []string, val any) (any, error) {
	if len(segs) == 0 {
		return val, nil
	}
	seg := segs[0]
	if idx, err := strconv.Atoi(seg); err == nil && idx >= 0 {
		list, ok := node.([]any)
		if node != nil && !ok {
			return nil, fmt.Errorf("index %d: the value there is not a list", idx)
		}
		if idx > len(list) {
			return nil, fmt.Errorf("index %d out of range (the list has %d entries)", idx, len(list))
		}
		if idx == len(list) {
			list = append(list, nil)
		}
		child, err := setPath(list[idx], segs[1:], val)
		if err != nil {
			return nil, err
		}
		list[idx] = child
		return list, nil
	}
	m, ok := node.(map[string]any)
	if node != nil && !ok {
		return nil, fmt.Errorf("key %q: the value there is not a table", seg)
	}
	if m == nil {
		m = map[string]any{}
	}
	child, err := setPath(m[seg], segs[1:], val)
	if err != nil {
		return nil, err
	}
	m[seg] = child
	return m, nil
}

// splitKeyPath splits "topics[0].topic" or "topics.0.topic" into segments.
func splitKeyPath(p string) ([]string, bool) {
	p = strings.NewReplacer("[", ".", "]", "").Replace(p)
	segs := strings.Split(p, ".")
	for _, s := range segs {
		if s == "" {
			return nil, false
		}
	}
	return segs, true
}

// overlay applies environment and --set overrides to tree. skip reports
// paths to ignore (sections of other connectors, so that one environment
// and one command line can serve several connectors in one process).
// self is the connector_name of the document: a --set scoped to another
// name ("NAME:key=value") is ignored.
func overlay(tree map[string]any, o Options, aliases map[string]string, skip func(segs []string) bool, self string, errs *[]*FieldError) map[string]any {
	set := func(segs []string, v text) {
		n, err := setPath(tree, segs, v)
		if err != nil {
			*errs = append(*errs, &FieldError{Path: strings.Join(segs, "."), Msg: err.Error() + " (from " + v.origin + ")"})
			return
		}
		tree = n.(map[string]any)
	}
	for _, name := range sortedAliasNames(aliases) {
		if v, ok := o.lookup(name); ok && v != "" {
			set([]string{aliases[name]}, text{s: v, origin: "env " + name})
		}
	}
	var prefixed []string
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(strings.ToUpper(k), EnvPrefix) {
			prefixed = append(prefixed, k)
		}
	}
	slicesSortUnique(&prefixed)
	for _, name := range prefixed {
		v, _ := o.lookup(name)
		rest := strings.ToLower(name[len(EnvPrefix):])
		segs := strings.Split(rest, "__")
		bad := rest == ""
		for _, s := range segs {
			bad = bad || s == ""
		}
		if bad {
			*errs = append(*errs, &FieldError{Path: "(env)", Msg: fmt.Sprintf("%s: want %sSECTION__KEY=value", name, EnvPrefix)})
			continue
		}
		if skip != nil && skip(segs) {
			continue
		}
		set(segs, text{s: v, origin: "env " + name})
	}
	for _, s := range o.Set {
		scope, k, v, ok := SplitSet(s)
		segs, okPath := splitKeyPath(k)
		if !ok || !okPath {
			*errs = append(*errs, &FieldError{Path: "(--set)", Msg: fmt.Sprintf("%q: want key.path=value or NAME:key.path=value", s)})
			continue
		}
		if (scope != "" && scope != self) || (skip != nil && skip(segs)) {
			continue
		}
		set(segs, text{s: v, origin: "--set " + strings.TrimSpace(s[:len(s)-len(v)-1])})
	}
	return tree
}

// SplitSet splits a --set override "key.path=value" or
// "NAME:key.path=value" into the connector name it is scoped to ("" for
// every file), the key path and the value; ok is false when there is no
// "=" or an empty key.
func SplitSet(s string) (scope, key, value string, ok bool) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if sc, rest, scoped := strings.Cut(k, ":"); scoped {
		scope, k = strings.TrimSpace(sc), strings.TrimSpace(rest)
		ok = ok && scope != ""
	}
	return scope, k, v, ok && k != ""
}

func sortedAliasNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slicesSortUnique(&out)
	return out
}

// Load reads the file at path (TOML, or YAML for .yaml/.yml), applies the
// defaults of dst, interpolates ${VAR}, layers the EnvPrefix environment
// and opts.Set over it and decodes the result strictly onto dst (a pointer
// to a struct), then validates it. Every problem is reported at once in an
// *[Error].
func Load(path string, dst any, opts Options) error {
	data, err := readFile(path)
	if err != nil {
		return err
	}
	return LoadBytes(path, data, FormatOf(path), dst, opts)
}

// readFile reads a configuration file; a file that is missing, a
// directory or unreadable is an *[Error] naming it.
func readFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, newError(path, []*FieldError{{Path: "(file)", Msg: fmt.Sprintf("%q is a directory, want a configuration file", path)}})
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, newError(path, []*FieldError{{Path: "(file)", Msg: fileProblem(path, err)}})
	}
	return data, nil
}

// LoadBytes is [Load] for data already read; source names it in errors.
func LoadBytes(source string, data []byte, f Format, dst any, opts Options) error {
	tree, err := Parse(source, data, f)
	if err != nil {
		return err
	}
	if err := ApplyDefaults(dst); err != nil {
		return err
	}
	var probs []*FieldError
	interpolate(tree, "", opts, &probs)
	tree = overlay(tree, opts, nil, nil, "", &probs)
	probs = append(probs, decodeProblems(Decode(tree, dst))...)
	probs = withValidation(probs, decodeProblems(Validate(dst)))
	return newError(source, probs)
}

// withValidation adds the validation problems to the decoding problems,
// except those about a key that already has a decoding problem (its value
// is the default, not what the user wrote).
func withValidation(decoding, validation []*FieldError) []*FieldError {
	bad := map[string]bool{}
	for _, p := range decoding {
		bad[p.Path] = true
	}
	for _, p := range validation {
		if !bad[p.Path] {
			decoding = append(decoding, p)
		}
	}
	return decoding
}

func decodeProblems(err error) []*FieldError {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Problems
	}
	return []*FieldError{{Path: "(root)", Msg: err.Error()}}
}
