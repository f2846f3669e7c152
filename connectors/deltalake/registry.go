package deltalake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
)

// registryColumns reads the latest schema of subject and maps its
// top-level fields to columns.
func (s *Sink) registryColumns(ctx context.Context, subject string) ([]tableColumn, error) {
	if s.opts.ServiceURL == "" {
		return nil, connect.Configuration(fmt.Errorf("deltalake: schema_source registry needs the broker URL"))
	}
	c, err := danube.NewClient(ctx, s.opts.ServiceURL, s.opts.ClientOptions...)
	if err != nil {
		return nil, fmt.Errorf("deltalake: connect to the schema registry: %w", err)
	}
	defer c.Close()
	sch, err := c.Schemas().Latest(ctx, subject)
	if err != nil {
		if errors.Is(err, danube.ErrNotFound) {
			return nil, connect.Configuration(fmt.Errorf("deltalake: schema subject %q is not registered", subject))
		}
		return nil, fmt.Errorf("deltalake: schema subject %q: %w", subject, err)
	}
	cols, err := columnsFromSchema(string(sch.Type), sch.Definition)
	if err != nil {
		return nil, connect.Configuration(fmt.Errorf("deltalake: schema subject %q version %d: %w", subject, sch.Version, err))
	}
	return cols, nil
}

// columnsFromSchema maps the top-level fields of a JSON Schema object or
// an Avro record to columns, reporting every field it cannot map.
func columnsFromSchema(typ string, def []byte) ([]tableColumn, error) {
	switch typ {
	case string(danube.SchemaJSON):
		return columnsFromJSONSchema(def)
	case string(danube.SchemaAvro):
		return columnsFromAvro(def)
	}
	return nil, fmt.Errorf("schema type %s has no fields; want json_schema or avro", typ)
}

type jsonSchema struct {
	Type       json.RawMessage        `json:"type"`
	Format     string                 `json:"format"`
	Encoding   string                 `json:"contentEncoding"`
	Properties map[string]*jsonSchema `json:"properties"`
	Required   []string               `json:"required"`
}

func (j *jsonSchema) types() []string {
	var one string
	if json.Unmarshal(j.Type, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(j.Type, &many)
	return many
}

func columnsFromJSONSchema(def []byte) ([]tableColumn, error) {
	var root jsonSchema
	if err := json.Unmarshal(def, &root); err != nil {
		return nil, fmt.Errorf("JSON Schema: %w", err)
	}
	if !slices.Contains(root.types(), "object") || len(root.Properties) == 0 {
		return nil, errors.New("the JSON Schema is not an object with properties")
	}
	var cols []tableColumn
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(root.Properties)) {
		p := root.Properties[name]
		nullable := !slices.Contains(root.Required, name)
		var typ string
		for _, t := range p.types() {
			switch t {
			case "null":
				nullable = true
			case "string":
				switch {
				case p.Format == "date-time":
					typ = TypeTimestamp
				case p.Format == "date":
					typ = TypeDate
				case p.Encoding == "base64":
					typ = TypeBinary
				default:
					typ = TypeString
				}
			case "integer":
				typ = TypeLong
			case "number":
				typ = TypeDouble
			case "boolean":
				typ = TypeBoolean
			default:
				problems = append(problems, fmt.Sprintf("property %q has type %s, which has no column type", name, t))
			}
		}
		if typ != "" {
			cols = append(cols, tableColumn{Name: name, Type: typ, Nullable: nullable, Path: []string{name}})
		} else if len(p.types()) == 0 {
			problems = append(problems, fmt.Sprintf("property %q has no type", name))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return cols, nil
}

func columnsFromAvro(def []byte) ([]tableColumn, error) {
	var rec struct {
		Type   string `json:"type"`
		Fields []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(def, &rec); err != nil || rec.Type != "record" {
		return nil, errors.New("the Avro schema is not a record")
	}
	var cols []tableColumn
	var problems []string
	for _, f := range rec.Fields {
		typ, nullable, err := avroType(f.Type)
		if err != nil {
			problems = append(problems, fmt.Sprintf("field %q: %v", f.Name, err))
			continue
		}
		cols = append(cols, tableColumn{Name: f.Name, Type: typ, Nullable: nullable, Path: []string{f.Name}})
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return cols, nil
}

func avroType(raw json.RawMessage) (string, bool, error) {
	var union []json.RawMessage
	if json.Unmarshal(raw, &union) == nil {
		var branches []json.RawMessage
		nullable := false
		for _, b := range union {
			if string(b) == `"null"` {
				nullable = true
			} else {
				branches = append(branches, b)
			}
		}
		if len(branches) != 1 {
			return "", false, fmt.Errorf("union %s has more than one non-null branch", raw)
		}
		t, _, err := avroType(branches[0])
		return t, nullable, err
	}
	var name string
	var logical string
	if json.Unmarshal(raw, &name) != nil {
		var complexType struct {
			Type        string `json:"type"`
			LogicalType string `json:"logicalType"`
		}
		if err := json.Unmarshal(raw, &complexType); err != nil {
			return "", false, fmt.Errorf("type %s: %w", raw, err)
		}
		name, logical = complexType.Type, complexType.LogicalType
	}
	switch {
	case logical == "timestamp-millis" || logical == "timestamp-micros":
		return TypeTimestamp, false, nil
	case logical == "date":
		return TypeDate, false, nil
	}
	switch name {
	case "string":
		return TypeString, false, nil
	case "long":
		return TypeLong, false, nil
	case "int":
		return TypeInteger, false, nil
	case "double":
		return TypeDouble, false, nil
	case "float":
		return TypeFloat, false, nil
	case "boolean":
		return TypeBoolean, false, nil
	case "bytes":
		return TypeBinary, false, nil
	}
	return "", false, fmt.Errorf("type %s has no column type", raw)
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
