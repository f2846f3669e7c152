package config_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/schema"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const orderSchema = `{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}`

func TestSchemasEncodingAndNumberFormat(t *testing.T) {
	src := minimal + `
[[schemas]]
topic = "/default/a"
subject = "a"
schema_type = "avro"
avro_encoding = "Binary"
number_format = "FLOAT64"

[[schemas]]
topic = "/default/b"
subject = "b"
schema_type = "number"
`
	doc := mustParse(t, src, config.Options{})
	a, b := doc.Core.Schemas[0], doc.Core.Schemas[1]
	if a.AvroEncoding != "binary" || a.NumberFormat != "float64" {
		t.Errorf("explicit values not canonical: %+v", a)
	}
	// The defaults are the schema package's.
	if b.AvroEncoding != schema.AvroOCF.String() || b.NumberFormat != schema.NumberInt64.String() {
		t.Errorf("defaults: %+v", b)
	}
	for _, tc := range []struct{ key, val, want string }{
		{"avro_encoding", "deflate", `schemas[0].avro_encoding: "deflate" is not one of ocf, binary, json`},
		{"number_format", "int32", `schemas[0].number_format: "int32" is not one of int64, float64`},
	} {
		_, err := parse(t, minimal+"[[schemas]]\ntopic = \"/a/b\"\nsubject = \"s\"\nschema_type = \"avro\"\n"+tc.key+" = \""+tc.val+"\"\n", config.Options{})
		wantProblem(t, err, tc.want)
	}
}

func TestSchemaFileMissing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.json")
	src := minimal + `
[[schemas]]
topic = "/default/a"
subject = "a"
schema_type = "json_schema"
schema_file = "` + missing + `"
`
	_, err := parse(t, src, config.Options{})
	wantProblem(t, err, `schemas[0].schema_file: "`+missing+`" does not exist`)

	// Relative paths resolve against the working directory, and the message
	// says which.
	t.Chdir(dir)
	_, err = parse(t, strings.Replace(src, missing, "nope.json", 1), config.Options{})
	wantProblem(t, err, `schemas[0].schema_file: "nope.json" does not exist (relative to the working directory `)
	writeFile(t, filepath.Join(dir, "nope.json"), orderSchema)
	mustParse(t, strings.Replace(src, missing, "nope.json", 1), config.Options{})

	// A directory is not a schema file.
	_, err = parse(t, strings.Replace(src, missing, dir, 1), config.Options{})
	wantProblem(t, err, `schemas[0].schema_file: "`+dir+`" is a directory`)
}

func TestSourceConfigAttachesSpec(t *testing.T) {
	dir := t.TempDir()
	avsc := `{"type":"record","name":"R","fields":[{"name":"n","type":"long"}]}`
	writeFile(t, filepath.Join(dir, "schemas", "order.json"), orderSchema)
	writeFile(t, filepath.Join(dir, "schemas", "r.avsc"), avsc)
	t.Chdir(dir)
	src := minimal + `
[[schemas]]
topic = "/default/orders"
subject = "orders-v"
schema_type = "json_schema"
schema_file = "schemas/order.json"
auto_register = true
version_strategy = { pinned = 2 }

[[schemas]]
topic = "/default/parted"
subject = "parted"
schema_type = "avro"
schema_file = "` + filepath.Join(dir, "schemas", "r.avsc") + `"
version_strategy = "minimum:3"
avro_encoding = "json"
auto_register = false

[[schemas]]
topic = "/default/numbers"
subject = "numbers"
schema_type = "number"
number_format = "float64"
`
	doc := mustParse(t, src, config.Options{})
	topics := []connect.SourceTopic{
		{Topic: "/default/orders"},
		{Topic: "/default/parted", Partitions: 3},
		{Topic: "/default/numbers"},
		{Topic: "/default/plain"},
	}
	cfg, err := doc.Core.SourceConfig(topics)
	if err != nil {
		t.Fatal(err)
	}
	if topics[0].Schema != nil {
		t.Fatal("SourceConfig modified the caller's topics")
	}
	o := cfg.Topics[0].Schema
	if o == nil || o.Topic != "/default/orders" || o.Subject != "orders-v" || o.Type != schema.JSONSchema ||
		!bytes.Equal(o.Definition, []byte(orderSchema)) || o.Version.String() != "pinned:2" || !o.AutoRegister ||
		o.AvroEncoding != schema.AvroOCF || o.NumberFormat != schema.NumberInt64 {
		t.Errorf("orders spec: %+v", o)
	}
	p := cfg.Topics[1].Schema
	if p == nil || p.Subject != "parted" || p.Type != schema.Avro || string(p.Definition) != avsc ||
		p.Version.String() != "minimum:3" || p.AutoRegister || p.AvroEncoding != schema.AvroJSON || cfg.Topics[1].Partitions != 3 {
		t.Errorf("partitioned topic spec: %+v", p)
	}
	n := cfg.Topics[2].Schema
	if n == nil || n.Type != schema.Number || n.NumberFormat != schema.NumberFloat64 || n.Definition != nil || n.Version.String() != "latest" {
		t.Errorf("number spec: %+v", n)
	}
	if cfg.Topics[3].Schema != nil {
		t.Errorf("a topic without [[schemas]] entry got %+v", cfg.Topics[3].Schema)
	}

	// The file vanished after loading: a Configuration error naming the key
	// and the file.
	if err := os.Remove(filepath.Join(dir, "schemas", "order.json")); err != nil {
		t.Fatal(err)
	}
	_, err = doc.Core.SourceConfig(topics)
	if connect.ClassOf(err) != connect.ClassConfiguration || connect.ExitCode(err) != 2 {
		t.Fatalf("missing file: %v (class %v)", err, connect.ClassOf(err))
	}
	wantProblem(t, err, `schemas[0].schema_file: "schemas/order.json" does not exist`)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Problems[0].Path != "schemas[0].schema_file" {
		t.Fatalf("error does not unwrap to a *config.Error naming the key: %#v", err)
	}
}

func TestSourceConfigUnmatchedSchema(t *testing.T) {
	src := minimal + `
[[schemas]]
topic = "/default/a"
subject = "a"
schema_type = "string"

[[schemas]]
topic = "/default/elsewhere"
subject = "e"
schema_type = "string"
`
	doc := mustParse(t, src, config.Options{})
	_, err := doc.Core.SourceConfig([]connect.SourceTopic{{Topic: "/default/a"}})
	if connect.ClassOf(err) != connect.ClassConfiguration {
		t.Fatalf("class %v: %v", connect.ClassOf(err), err)
	}
	wantProblem(t, err, `schemas[1].topic: "/default/elsewhere" is not a topic of this connector (its topics: /default/a)`)
	if strings.Contains(err.Error(), "schemas[0]") {
		t.Errorf("the matched entry is reported: %v", err)
	}
	if probs := doc.Core.SchemaProblems([]string{"/default/a", "/default/elsewhere-part-2"}); len(probs) != 0 {
		t.Errorf("a partition matches its logical topic: %v", probs)
	}
}

func TestSinkConfigSchemaSubject(t *testing.T) {
	src := minimal + `
[[topics]]
topic = "/default/a"

[[topics]]
topic = "/default/b"

[[topics]]
topic = "/default/c"
schema_subject = "own"

[[schemas]]
topic = "/default/a"
subject = "subject-a"
schema_type = "number"
number_format = "float64"

[[schemas]]
topic = "/default/c"
subject = "subject-c"
schema_type = "string"
`
	doc := mustParse(t, src, config.Options{})
	cfg := doc.Core.SinkConfig()
	want := []struct {
		subject string
		format  schema.NumberFormat
	}{{"subject-a", schema.NumberFloat64}, {"", schema.NumberInt64}, {"own", schema.NumberInt64}}
	for i, w := range want {
		if got := cfg.Topics[i]; got.SchemaSubject != w.subject || got.NumberFormat != w.format {
			t.Errorf("topics[%d]: subject %q format %v, want %q %v", i, got.SchemaSubject, got.NumberFormat, w.subject, w.format)
		}
	}
}

func TestSinkSchemaTopicNotConsumed(t *testing.T) {
	src := minimal + `
[[topics]]
topic = "/default/a"

[[schemas]]
topic = "/default/a-part-1"
subject = "a"
schema_type = "string"

[[schemas]]
topic = "/default/b"
subject = "b"
schema_type = "string"
`
	_, err := parse(t, src, config.Options{})
	wantProblem(t, err, `test.toml: schemas[1].topic: "/default/b" is not a topic of this connector (its topics: /default/a)`)
	if strings.Contains(err.Error(), "schemas[0]") {
		t.Errorf("a partition of a consumed topic is reported: %v", err)
	}
}
