package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/file"
	"github.com/danube-connect/connect/danube"
)

// recordSchema accepts the generator's JSON records, {"seq":N,"data":"…"}.
const recordSchema = `{
  "type": "object",
  "properties": {"seq": {"type": "integer", "minimum": 0}, "data": {"type": "string"}},
  "required": ["seq", "data"],
  "additionalProperties": false
}`

const schemaGenConfig = `connector_name = "schema-gen"
connector = "generator"
[generator]
topic = "/default/%[1]s"
format = "json"
count = %[2]d
[[schemas]]
topic = "/default/%[1]s"
subject = "%[1]s-records"
schema_type = "json_schema"
schema_file = "%[3]s"
auto_register = true
[source]
offsets_dir = "%[4]s"
commit_interval = "50ms"
[processing]
drain_timeout = "5s"
`

const schemaSinkConfig = `connector_name = "schema-sink"
connector = "file"
[[topics]]
topic = "/default/%[1]s"
[[schemas]]
topic = "/default/%[1]s"
subject = "%[1]s-records"
schema_type = "json_schema"
[processing]
batch_size = 50
batch_timeout_ms = 5
drain_timeout = "5s"
[file]
path = "%[2]s"
`

// fileLines reads a file sink's output.
func fileLines(t *testing.T, path string) []file.Line {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []file.Line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l file.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// [[schemas]] end to end: the generator registers the subject from its
// schema file and tags every message with it; the file sink decodes every
// message through the registry, writes the matching ones with their schema
// and dead-letters one that does not match.
func TestSchemasEndToEnd(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	const n = 300
	const name = "schemas-e2e"
	topic, subject := "/default/"+name, name+"-records"
	schemaFile, out := filepath.Join(dir, "record.schema.json"), filepath.Join(dir, "out.jsonl")
	writeFile(t, schemaFile, recordSchema)
	gen, sink := filepath.Join(dir, "gen.toml"), filepath.Join(dir, "sink.toml")
	writeFile(t, gen, fmt.Sprintf(schemaGenConfig, name, n, schemaFile, filepath.Join(dir, "offsets")))
	writeFile(t, sink, fmt.Sprintf(schemaSinkConfig, name, out))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := startCLI(t, ctx, []string{"DANUBE_SERVICE_URL=" + b.URL()}, nil, "run", "--http-addr", "off", "-c", gen, "-c", sink)
	r.awaitStarted(t) // the sink is subscribed, the generator publishing

	cl, err := danube.NewClient(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Auto-registered from the file at the generator's start.
	latest, err := cl.Schemas().Latest(t.Context(), subject)
	if err != nil {
		t.Fatalf("subject %s not registered: %v", subject, err)
	}
	var want, got any
	_ = json.Unmarshal([]byte(recordSchema), &want)
	if err := json.Unmarshal(latest.Definition, &got); err != nil || fmt.Sprint(got) != fmt.Sprint(want) ||
		latest.Type != danube.SchemaType("json_schema") || latest.Version != 1 {
		t.Fatalf("registered schema: type %s version %d definition %s", latest.Type, latest.Version, latest.Definition)
	}
	if tc, err := cl.Schemas().TopicConfig(t.Context(), topic); err != nil || tc.Subject != subject {
		t.Fatalf("topic schema binding: %+v %v", tc, err)
	}

	// A message of the subject whose payload does not match the schema: the
	// broker does not validate payloads by default, the sink does.
	p, err := cl.NewProducer(t.Context(), topic, danube.WithProducerName("intruder"), danube.WithReliable(),
		danube.WithSchema(danube.SchemaRef{Subject: subject}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	bad := `{"seq":"not a number"}`
	if err := p.Send(t.Context(), &danube.OutgoingMessage{Payload: []byte(bad)}); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(testTimeout)
	for len(seqs(t, out)) != n || len(b.Messages(topic+"-dlq")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %d records written, %d dead-lettered; stderr:\n%s", len(seqs(t, out)), len(b.Messages(topic+"-dlq")), r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if res := r.wait(t); res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}

	// Delivery is at least once: a record may be written (or the bad one
	// dead-lettered) twice when an ack is late, none may be missing.
	got2 := seqs(t, out)
	for i := range n {
		if got2[i] == 0 {
			t.Fatalf("sequence %d not written", i)
		}
	}
	if len(got2) != n {
		t.Fatalf("%d distinct records written, want %d", len(got2), n)
	}
	for _, l := range fileLines(t, out) {
		if l.Schema == nil || l.Schema.ID != latest.ID || l.Schema.Version != 1 || l.Schema.Subject != subject || l.Schema.Type != "json_schema" {
			t.Fatalf("line without the schema: %+v", l)
		}
	}
	published := 0
	for _, m := range b.Messages(topic) {
		if m.ProducerName != "schema-gen" {
			continue
		}
		published++
		if m.SchemaID != latest.ID || m.SchemaVersion != 1 {
			t.Fatalf("message %d carries schema %d version %d, want %d version 1", m.Offset, m.SchemaID, m.SchemaVersion, latest.ID)
		}
	}
	if published != n {
		t.Fatalf("%d messages of the generator on the topic, want %d", published, n)
	}
	for _, d := range b.Messages(topic + "-dlq") {
		if string(d.Payload) != bad || d.Attributes[connect.AttrErrorClass] != "invalid_data" ||
			!strings.Contains(d.Attributes[connect.AttrFailureReason], "schema: invalid json_schema payload") {
			t.Fatalf("dead-lettered: %s %v", d.Payload, d.Attributes)
		}
	}
}

// The schemas example exactly as documented: one command from the
// repository root, finishing by itself.
func TestSchemasExample(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"generator.toml", "file-sink.toml", "record.schema.json"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/schemas", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "examples/schemas", f), string(data))
	}
	t.Chdir(dir)
	r := runCLI(t, t.Context(), nil, "run", "--devbroker", "-c", "examples/schemas/generator.toml", "-c", "examples/schemas/file-sink.toml")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	got := seqs(t, "out/schemas/records.jsonl")
	for i := range 500 {
		if got[i] != 1 {
			t.Fatalf("sequence %d written %d times (%d distinct records)", i, got[i], len(got))
		}
	}
	for _, l := range fileLines(t, "out/schemas/records.jsonl") {
		if l.Schema == nil || l.Schema.Subject != "schemas-demo-records" || l.Schema.Version != 1 {
			t.Fatalf("line without the schema: %+v", l)
		}
	}
	for _, want := range []string{"schemas-generator (generator source): 500 received, 500 published, 0 failed, 0 dead-lettered",
		"schemas-sink (file sink): 500 received, 500 written, 0 failed, 0 dead-lettered"} {
		if !strings.Contains(r.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// validate reports [[schemas]] problems with exit code 2: a missing schema
// file, and an entry naming a topic the connector does not use (a sink's
// [[topics]], a source's destination topics).
func TestValidateSchemas(t *testing.T) {
	dir := t.TempDir()
	schemaFile := filepath.Join(dir, "record.schema.json")
	writeFile(t, schemaFile, recordSchema)
	missing := filepath.Join(dir, "missing.json")
	for _, tc := range []struct {
		name, config, want string
	}{
		{"source-missing-file", fmt.Sprintf(schemaGenConfig, "a", 1, missing, dir),
			`schemas[0].schema_file: "` + missing + `" does not exist`},
		{"source-other-topic", strings.Replace(fmt.Sprintf(schemaGenConfig, "a", 1, schemaFile, dir), `topic = "/default/a"
subject`, `topic = "/default/b"
subject`, 1), `schemas[0].topic: "/default/b" is not a topic of this connector (its topics: /default/a)`},
		{"sink-other-topic", strings.Replace(fmt.Sprintf(schemaSinkConfig, "a", filepath.Join(dir, "o.jsonl")), `topic = "/default/a"
subject`, `topic = "/default/b"
subject`, 1), `schemas[0].topic: "/default/b" is not a topic of this connector (its topics: /default/a)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".toml")
			writeFile(t, path, tc.config)
			r := runCLI(t, t.Context(), nil, "validate", "-c", path)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr.String(), path+": "+tc.want) {
				t.Fatalf("stderr:\n%s\nwant %q", r.stderr, tc.want)
			}
		})
	}
	ok := filepath.Join(dir, "ok.toml")
	writeFile(t, ok, fmt.Sprintf(schemaGenConfig, "a", 1, schemaFile, dir))
	if r := runCLI(t, t.Context(), nil, "validate", "-c", ok); r.code != 0 {
		t.Fatalf("valid file: exit %d\n%s", r.code, r.stderr)
	}
}
