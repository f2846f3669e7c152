package deltalake

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
)

// TestRegistrySchema builds the table's columns from the latest JSON
// Schema of a registry subject and checks them with delta-rs; an Avro
// record maps the same way.
func TestRegistrySchema(t *testing.T) {
	python(t)
	b := startBroker(t, 10, "")
	c, err := danube.NewClient(t.Context(), b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	def := `{"type":"object","properties":{"id":{"type":"string"},"qty":{"type":["integer","null"]},"at":{"type":"string","format":"date-time"},"ok":{"type":"boolean"}},"required":["id","at"]}`
	if _, err := c.Schemas().Register(t.Context(), "orders-value", danube.SchemaJSON, []byte(def)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "t")
	cfg := testConfig(t, func(c *Config) {
		c.Tables = []Table{{Topic: ordersTopic, TableURI: dir, SchemaSource: "registry", SchemaSubject: "orders-value", MetadataColumns: []string{"offset"}}}
	})
	s := New(cfg, Options{ServiceURL: b.URL()})
	if err := s.Open(t.Context(), connect.SinkEnv{Name: "dl", Logger: discard(), Topics: []string{ordersTopic}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBatch(t.Context(), []connect.SinkRecord{
		orderRec(0, `{"id":"a","qty":1,"at":"2024-05-01T00:00:00Z","ok":true}`),
		orderRec(1, `{"id":"b","at":"2024-05-01T00:00:01Z"}`),
	}); err != nil {
		t.Fatal(err)
	}
	r := readWithDeltaRS(t, dir, nil)
	want := [][3]any{{"at", "timestamp", false}, {"id", "string", false}, {"ok", "boolean", true}, {"qty", "long", true}, {ColOffset, "long", false}}
	if fmt.Sprint(r.Schema) != fmt.Sprint(want) || len(r.Rows) != 2 {
		t.Fatalf("schema %v, %d rows; want %v, 2 rows", r.Schema, len(r.Rows), want)
	}

	avro := `{"type":"record","name":"o","fields":[{"name":"id","type":"string"},{"name":"n","type":["null","int"]},{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"d","type":{"type":"int","logicalType":"date"}}]}`
	cols, err := columnsFromSchema("avro", []byte(avro))
	if err != nil || fmt.Sprint(cols) != fmt.Sprint([]tableColumn{
		{Name: "id", Type: TypeString, Path: []string{"id"}}, {Name: "n", Type: TypeInteger, Nullable: true, Path: []string{"n"}},
		{Name: "ts", Type: TypeTimestamp, Path: []string{"ts"}}, {Name: "d", Type: TypeDate, Path: []string{"d"}}}) {
		t.Fatalf("avro columns %v, %v", cols, err)
	}
	if _, err := columnsFromSchema("json_schema", []byte(`{"type":"object","properties":{"tags":{"type":"array"}}}`)); err == nil {
		t.Fatal("an array property was accepted")
	}
}
