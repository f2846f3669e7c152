package config

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Markdown writes the reference of the keys declared by the struct v (a
// struct or pointer to one) as markdown: a table of the keys of each
// section, under a heading of the given level. prefix is the table the
// keys live in ("" for the document root, "generator" for [generator]).
// The text is generated from the struct tags only, so it never drifts from
// what the parser accepts.
func Markdown(w io.Writer, level int, title, intro, prefix string, v any) error {
	fields, err := Fields(v)
	if err != nil {
		return err
	}
	h := strings.Repeat("#", level)
	if _, err := fmt.Fprintf(w, "%s %s\n\n", h, title); err != nil {
		return err
	}
	if intro != "" {
		fmt.Fprintf(w, "%s\n\n", intro)
	}
	return markdownSection(w, level+1, prefix, false, "", fields)
}

func markdownSection(w io.Writer, level int, prefix string, list bool, doc string, fields []Field) error {
	if prefix != "" {
		open, closing := "[", "]"
		if list {
			open, closing = "[[", "]]"
		}
		fmt.Fprintf(w, "%s `%s%s%s`\n\n", strings.Repeat("#", level), open, prefix, closing)
		if doc != "" {
			fmt.Fprintf(w, "%s\n\n", doc)
		}
	}
	var nested []Field
	var rows []Field
	for _, f := range fields {
		if len(f.Fields) > 0 || f.Type == "table" || f.Type == "list of tables" {
			nested = append(nested, f)
			continue
		}
		rows = append(rows, f)
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "| Key | Type | Default | Description |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, f := range rows {
			def := ""
			if f.Default != "" {
				def = "`" + f.Default + "`"
			}
			fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", f.Key, f.Type, def, escapeCell(describeField(prefix, list, f)))
		}
		fmt.Fprintln(w)
	}
	for _, f := range nested {
		p := joinPath(prefix, f.Key)
		if err := markdownSection(w, level, p, f.Type == "list of tables", f.Doc, f.Fields); err != nil {
			return err
		}
	}
	return nil
}

func describeField(prefix string, list bool, f Field) string {
	parts := []string{f.Doc}
	if f.Required {
		parts = append([]string{"**Required.**"}, parts...)
	}
	if len(f.Enum) > 0 {
		parts = append(parts, "One of `"+strings.Join(f.Enum, "`, `")+"`.")
	}
	for _, k := range slices.Sorted(maps.Keys(f.Aliases)) {
		parts = append(parts, fmt.Sprintf("`%s` means `%s`.", k, f.Aliases[k]))
	}
	switch {
	case f.Min != "" && f.Max != "":
		parts = append(parts, fmt.Sprintf("Range %s..%s.", f.Min, f.Max))
	case f.Min != "":
		parts = append(parts, fmt.Sprintf("At least %s.", f.Min))
	case f.Max != "":
		parts = append(parts, fmt.Sprintf("At most %s.", f.Max))
	}
	if f.Secret {
		parts = append(parts, "Secret: redacted in logs and dumps.")
	}
	parts = append(parts, "Env `"+envName(prefix, list, f.Key)+"`.")
	return strings.Join(parts, " ")
}

// envName is the EnvPrefix variable that overrides key in section prefix.
func envName(prefix string, list bool, key string) string {
	segs := []string{}
	if prefix != "" {
		segs = strings.Split(strings.ReplaceAll(prefix, "[]", ".<i>"), ".")
	}
	if list {
		segs = append(segs, "<i>")
	}
	segs = append(segs, key)
	return EnvPrefix + strings.ToUpper(strings.Join(segs, "__"))
}

func escapeCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
