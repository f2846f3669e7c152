package registry

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/danube-connect/connect/internal/wire/schemapb"
)

func TestPersistenceAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	reg, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, reg)
	register(t, c, "users", "json_schema", userJSON)
	register(t, c, "users", "json_schema", `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"email":{"type":"string"}},"required":["name"]}`)
	register(t, c, "users", "json_schema", `{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`)
	register(t, c, "avro", "avro", avroV1)
	register(t, c, "bin", "bytes", "")
	if _, err := c.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "avro", CompatibilityMode: "forward"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSchemaVersion(ctxT(t), &schemapb.DeleteSchemaVersionRequest{Subject: "users", Version: 3}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, c)
	// No Close: the state must already be on disk, as after kill -9.

	reg2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2 := serve(t, reg2)
	after := snapshot(t, c2)
	if len(before) != len(after) {
		t.Fatalf("snapshot sizes %d vs %d", len(before), len(after))
	}
	for i := range before {
		if !proto.Equal(before[i], after[i]) {
			t.Fatalf("after reopen:\n got %v\nwant %v", after[i], before[i])
		}
	}
	// Counters continue: next subject id 4, next users version 4 (3 was deleted, never reused).
	if r := register(t, c2, "new", "string", ""); r.SchemaId != 4 {
		t.Fatalf("id after reopen: %v", r)
	}
	if r := register(t, c2, "users", "json_schema", `{"type":"object","properties":{"name":{"type":"string"},"x":{"type":"string"}},"required":["name"]}`); r.Version != 4 {
		t.Fatalf("version after reopen: %v", r)
	}
	// Validators work on reloaded definitions.
	id, _ := reg2.SubjectID("avro")
	p := TopicPolicy{Subject: "avro", Policy: PolicyEnforce, PayloadValidation: true}
	if err := reg2.Validate(t.Context(), p, &id, nil, ocfFile(t, avroV1, "null", map[string]any{"name": "a"})); err != nil {
		t.Fatal(err)
	}
	if err := reg2.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != stateFileName {
		t.Fatalf("data dir holds %v, want only %s", entries, stateFileName)
	}
}

// snapshot collects everything the RPCs can observe.
func snapshot(t *testing.T, c schemapb.SchemaRegistryClient) []proto.Message {
	t.Helper()
	ls, err := c.ListSubjects(ctxT(t), &schemapb.ListSubjectsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := []proto.Message{ls}
	for _, s := range ls.Subjects {
		lv, err := c.ListVersions(ctxT(t), &schemapb.ListVersionsRequest{Subject: s.Subject})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lv)
		for _, v := range lv.Versions {
			got, err := c.GetSchema(ctxT(t), &schemapb.GetSchemaRequest{SchemaId: s.SchemaId, Version: proto.Uint32(v.Version)})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got)
		}
	}
	return out
}

func TestOpenRejectsCorruptState(t *testing.T) {
	for name, content := range map[string]string{
		"not json":       "{",
		"unknown format": `{"format":99}`,
		"bad definition": `{"format":1,"next_id":2,"subjects":[{"name":"s","id":1,"compatibility_mode":"backward","versions":[{"version":1,"schema_type":"avro","definition":"e30=","created_at":1}]}]}`,
		"duplicate id":   `{"format":1,"subjects":[{"name":"a","id":1,"compatibility_mode":"none"},{"name":"b","id":1,"compatibility_mode":"none"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir, nil); err == nil {
				t.Fatal("corrupt state accepted")
			}
		})
	}
}

func TestOpenRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, stateFileName+".tmp-123")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file left: %v", err)
	}
}

func TestFailedPersistLeavesStateUnchanged(t *testing.T) {
	dir := t.TempDir()
	reg, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, reg)
	register(t, c, "s", "string", "")
	// Make the directory unwritable by replacing it with a file.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterSchema(ctxT(t), &schemapb.RegisterSchemaRequest{Subject: "t", SchemaType: "bytes"}); err == nil {
		t.Fatal("register succeeded without persisting")
	}
	if _, ok := reg.SubjectID("t"); ok {
		t.Fatal("unpersisted subject visible")
	}
	if _, err := c.SetCompatibilityMode(ctxT(t), &schemapb.SetCompatibilityModeRequest{Subject: "s", CompatibilityMode: "none"}); err == nil {
		t.Fatal("set mode succeeded without persisting")
	}
	if _, err := c.DeleteSchemaVersion(ctxT(t), &schemapb.DeleteSchemaVersionRequest{Subject: "s", Version: 1}); err == nil {
		t.Fatal("delete succeeded without persisting")
	}
	got, err := c.GetLatestSchema(ctxT(t), &schemapb.GetLatestSchemaRequest{Subject: "s"})
	if err != nil || got.CompatibilityMode != "backward" || got.Version != 1 {
		t.Fatalf("state changed by failed mutations: %v %v", got, err)
	}
}
