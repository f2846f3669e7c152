package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Catalog resolves the connector a document names to its configuration
// section. The connectors package implements it.
type Catalog interface {
	// Section returns a new, zero configuration struct (a pointer) for the
	// named connector, and false when there is no such connector.
	Section(connector string) (any, bool)
	// Names lists the known connectors.
	Names() []string
}

// Document is one connector's configuration file: the core keys and the
// section of the connector it names (the table whose key is the
// connector's name, e.g. [generator]).
type Document struct {
	// Source is the file the document was read from.
	Source string
	// Core holds the core keys.
	Core Core
	// Connector is the connector's section (a pointer to its config
	// struct), nil when the document was loaded without a catalog.
	Connector any
	// Inferred reports that the file has no connector key and the
	// connector was inferred from its section (a Rust connector's file).
	Inferred bool
}

// LoadDocument reads a connector configuration file. With a nil catalog
// only the core keys are accepted; otherwise the file must name a
// connector of the catalog (the connector key) or hold the section of
// exactly one (a Rust connector's file: [mqtt] implies connector =
// "mqtt"), and its section is decoded too. Precedence: defaults < file <
// environment (EnvServiceURL, EnvConnectorName, then EnvPrefix keys) <
// opts.Set. A --set override of a connector's section ("generator.rate")
// applies only to a file of that connector, and one scoped to a connector
// name ("NAME:key=value") only to the file whose connector_name is NAME.
func LoadDocument(path string, cat Catalog, opts Options) (*Document, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseDocument(path, data, FormatOf(path), cat, opts)
}

// ParseDocument is [LoadDocument] for data already read.
func ParseDocument(source string, data []byte, f Format, cat Catalog, opts Options) (*Document, error) {
	tree, err := Parse(source, data, f)
	if err != nil {
		return nil, err
	}
	doc := &Document{Source: source}
	if err := ApplyDefaults(&doc.Core); err != nil {
		return nil, err
	}
	var probs []*FieldError
	interpolate(tree, "", opts, &probs)

	// The connector may come from the file, an override or its section, so
	// peek before the overlay: env keys and --set overrides of other
	// connectors' sections are skipped.
	var names []string
	if cat != nil {
		names = cat.Names()
	}
	aliases := map[string]string{EnvServiceURL: "danube_service_url", EnvConnectorName: "connector_name"}
	self, _ := peekConnector(tree, opts, names)
	skip := func(segs []string) bool {
		return len(segs) > 1 && segs[0] != self && contains(names, segs[0])
	}
	tree = overlay(tree, opts, aliases, skip, peekName(tree), &probs)

	extra := map[string]reflect.Value{}
	if cat != nil {
		name := ""
		switch c := tree["connector"].(type) {
		case string:
			name = c
		case text:
			name = c.s
		}
		var sections []string
		if name == "" {
			name, sections = inferConnector(tree, names)
			if name != "" {
				tree["connector"] = name
				doc.Inferred = true
			}
		}
		switch {
		case name == "" && len(sections) > 1:
			probs = append(probs, &FieldError{Path: "connector", Msg: "required: the file has sections of several connectors (" + strings.Join(sections, ", ") + "); name the one to run"})
		case name == "":
			probs = append(probs, &FieldError{Path: "connector", Msg: "required: name the connector to run, or give its section (one of " + strings.Join(names, ", ") + ")"})
		default:
			sec, ok := cat.Section(name)
			if !ok {
				msg := fmt.Sprintf("unknown connector %q", name)
				if s := suggest(name, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += " (one of " + strings.Join(names, ", ") + ")"
				}
				probs = append(probs, &FieldError{Path: "connector", Msg: msg})
				break
			}
			if err := ApplyDefaults(sec); err != nil {
				return nil, err
			}
			doc.Connector = sec
			extra[name] = reflect.ValueOf(sec).Elem()
			if _, present := tree[name]; !present {
				tree[name] = map[string]any{} // validate the section's required keys
			}
		}
	}
	d := &decoder{}
	d.section("", tree, reflect.ValueOf(&doc.Core).Elem(), extra)
	probs = append(probs, d.errs...)
	vprobs := decodeProblems(Validate(&doc.Core))
	if doc.Connector != nil {
		for _, p := range decodeProblems(Validate(doc.Connector)) {
			path := doc.Core.Connector
			if p.Path != "(root)" {
				path = joinPath(path, p.Path)
			}
			vprobs = append(vprobs, &FieldError{Path: path, Msg: p.Msg})
		}
	}
	probs = withValidation(probs, vprobs)
	if err := newError(source, probs); err != nil {
		return nil, err
	}
	return doc, nil
}

// peekConnector returns the connector named by the file or by overrides,
// else the one inferred from its section, without reporting errors (the
// full pass reports them); inferred says it was inferred.
func peekConnector(tree map[string]any, o Options, names []string) (name string, inferred bool) {
	name, _ = tree["connector"].(string)
	if t, ok := tree["connector"].(text); ok {
		name = t.s
	}
	if v, ok := o.lookup(EnvPrefix + "CONNECTOR"); ok {
		name = v
	}
	for _, s := range o.Set {
		if scope, k, v, ok := SplitSet(s); ok && scope == "" && k == "connector" {
			name = v
		}
	}
	if name == "" {
		name, _ = inferConnector(tree, names)
		return name, name != ""
	}
	return name, false
}

// peekName returns the connector_name the file gives (before overrides),
// the name a scoped --set ("NAME:key=value") matches.
func peekName(tree map[string]any) string {
	switch n := tree["connector_name"].(type) {
	case string:
		return n
	case text:
		return n.s
	}
	return ""
}

// inferConnector returns the connector of a file without a connector key:
// the one connector of names whose section (a table of that name) the
// file has, as in the Rust connectors' files, where the binary implies the
// connector and the file holds its section. sections lists every such
// section; name is "" unless there is exactly one.
func inferConnector(tree map[string]any, names []string) (name string, sections []string) {
	for _, n := range names {
		if _, ok := tree[n].(map[string]any); ok {
			sections = append(sections, n)
		}
	}
	if len(sections) == 1 {
		return sections[0], sections
	}
	return "", sections
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func slicesSortUnique(s *[]string) {
	m := map[string]bool{}
	out := (*s)[:0]
	for _, x := range *s {
		if !m[x] {
			m[x] = true
			out = append(out, x)
		}
	}
	*s = out
	slices.Sort(*s)
}
