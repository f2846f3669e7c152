package deltalake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Column types the sink writes: the Delta primitive type names.
const (
	TypeString    = "string"
	TypeLong      = "long"
	TypeInteger   = "integer"
	TypeDouble    = "double"
	TypeFloat     = "float"
	TypeBoolean   = "boolean"
	TypeTimestamp = "timestamp"
	TypeDate      = "date"
	TypeBinary    = "binary"
)

// columnTypes lists the supported Delta types (also the enum of the type key).
var columnTypes = []string{TypeString, TypeLong, TypeInteger, TypeDouble, TypeFloat, TypeBoolean, TypeTimestamp, TypeDate, TypeBinary}

// partitionTypes are the types a partition column may have.
var partitionTypes = []string{TypeString, TypeLong, TypeInteger, TypeBoolean, TypeDate}

// tableColumn is one column of a table: its Delta name, type and nullability,
// and where its value comes from (a JSON path into the record's value, or
// a record metadata field).
type tableColumn struct {
	Name     string
	Type     string
	Nullable bool
	// Path is the dot-separated path of the value in the record (empty for
	// metadata columns).
	Path []string
	// Meta names the record metadata the column holds ("" for data columns).
	Meta string
}

// tableSchema is the ordered column list of a table and its partition
// columns.
type tableSchema struct {
	Columns   []tableColumn
	Partition []string
}

// deltaField is a field of a Delta schemaString.
type deltaField struct {
	Name     string          `json:"name"`
	Type     json.RawMessage `json:"type"`
	Nullable bool            `json:"nullable"`
	Metadata map[string]any  `json:"metadata"`
}

type deltaStruct struct {
	Type   string       `json:"type"`
	Fields []deltaField `json:"fields"`
}

// SchemaString returns the Delta schemaString of the columns.
func (s *tableSchema) SchemaString() string {
	st := deltaStruct{Type: "struct", Fields: make([]deltaField, 0, len(s.Columns))}
	for _, c := range s.Columns {
		typ, _ := json.Marshal(c.Type) // a string cannot fail
		st.Fields = append(st.Fields, deltaField{Name: c.Name, Type: typ, Nullable: c.Nullable, Metadata: map[string]any{}})
	}
	b, _ := json.Marshal(st) // plain values cannot fail
	return string(b)
}

// parseSchemaString reads a Delta schemaString. Nested and unsupported
// types are reported as problems (one per column) rather than failing at
// the first.
func parseSchemaString(s string) ([]tableColumn, []string, error) {
	var st deltaStruct
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return nil, nil, fmt.Errorf("schemaString is not valid JSON: %w", err)
	}
	var cols []tableColumn
	var problems []string
	for _, f := range st.Fields {
		var typ string
		if err := json.Unmarshal(f.Type, &typ); err != nil {
			problems = append(problems, fmt.Sprintf("column %q has a nested type %s, which the sink cannot write", f.Name, f.Type))
			continue
		}
		if !slices.Contains(columnTypes, typ) {
			problems = append(problems, fmt.Sprintf("column %q has type %s, which the sink cannot write", f.Name, typ))
			continue
		}
		for k := range f.Metadata {
			if strings.HasPrefix(k, "delta.invariants") || strings.HasPrefix(k, "delta.generationExpression") ||
				strings.HasPrefix(k, "delta.columnMapping") || strings.HasPrefix(k, "delta.identity") {
				problems = append(problems, fmt.Sprintf("column %q has metadata %s, which the sink does not honour", f.Name, k))
			}
		}
		cols = append(cols, tableColumn{Name: f.Name, Type: typ, Nullable: f.Nullable})
	}
	return cols, problems, nil
}

// diff lists every difference between the wanted schema (ours) and a
// table's columns and partitioning.
func (s *tableSchema) diff(cols []tableColumn, partition []string) []string {
	var out []string
	have := make(map[string]tableColumn, len(cols))
	for _, c := range cols {
		have[c.Name] = c
	}
	for _, c := range s.Columns {
		h, ok := have[c.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("column %q (%s) is missing from the table", c.Name, c.Type))
		case h.Type != c.Type:
			out = append(out, fmt.Sprintf("column %q is %s in the table, configured %s", c.Name, h.Type, c.Type))
		case h.Nullable != c.Nullable:
			out = append(out, fmt.Sprintf("column %q is nullable=%v in the table, configured nullable=%v", c.Name, h.Nullable, c.Nullable))
		}
	}
	for _, c := range cols {
		if !slices.ContainsFunc(s.Columns, func(o tableColumn) bool { return o.Name == c.Name }) {
			out = append(out, fmt.Sprintf("the table has column %q (%s), which is not configured", c.Name, c.Type))
		}
	}
	if !slices.Equal(partition, s.Partition) && !(len(partition) == 0 && len(s.Partition) == 0) {
		out = append(out, fmt.Sprintf("the table is partitioned by %v, configured %v", partition, s.Partition))
	}
	return out
}

// parquetNode returns the Parquet node a column of type typ is written as.
func parquetNode(typ string) parquet.Node {
	switch typ {
	case TypeLong:
		return parquet.Leaf(parquet.Int64Type)
	case TypeInteger:
		return parquet.Leaf(parquet.Int32Type)
	case TypeDouble:
		return parquet.Leaf(parquet.DoubleType)
	case TypeFloat:
		return parquet.Leaf(parquet.FloatType)
	case TypeBoolean:
		return parquet.Leaf(parquet.BooleanType)
	case TypeTimestamp:
		return parquet.Timestamp(parquet.Microsecond)
	case TypeDate:
		return parquet.Date()
	case TypeBinary:
		return parquet.Leaf(parquet.ByteArrayType)
	}
	return parquet.String()
}

// dataSchema is the Parquet schema of the data files: every column but the
// partition columns (Delta keeps those in the log only). cols[i] is the
// column of leaf i.
func (s *tableSchema) dataSchema() (*parquet.Schema, []int) {
	g := parquet.Group{}
	for _, c := range s.Columns {
		if slices.Contains(s.Partition, c.Name) {
			continue
		}
		n := parquetNode(c.Type)
		if c.Nullable {
			n = parquet.Optional(n)
		} else {
			n = parquet.Required(n)
		}
		g[c.Name] = n
	}
	sch := parquet.NewSchema("table", g)
	leaf := make([]int, 0, len(g))
	for _, f := range sch.Fields() {
		leaf = append(leaf, slices.IndexFunc(s.Columns, func(c tableColumn) bool { return c.Name == f.Name() }))
	}
	return sch, leaf
}
