package deltalake

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
)

const ordersTopic = "/default/orders"

func orderRec(off uint64, payload string) connect.SinkRecord {
	return connect.SinkRecord{Topic: ordersTopic, Partition: -1, PartitionTopic: ordersTopic, Offset: off,
		Payload: []byte(payload), PublishTime: time.UnixMilli(1_700_000_000_000 + int64(off)).UTC(),
		Attributes: map[string]string{connect.AttrRecordID: fmt.Sprintf("src/p/%d", off)}}
}

func orderJSON(i int) string {
	return fmt.Sprintf(`{"id":"o-%d","qty":%d,"price":%d.5,"ok":%v,"user":{"name":"u%d"},"at":"2024-05-01T10:00:%02dZ","day":"2024-05-0%d"}`,
		i, i, i, i%2 == 0, i, i%60, 1+i%3)
}

const appendScript = `
import sys, json, pyarrow as pa
from deltalake import DeltaTable, write_deltalake, CommitProperties, Transaction
uri, row, app, version = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
schema = pa.schema(DeltaTable(uri).schema().to_arrow())
for f in schema:
    if pa.types.is_timestamp(f.type) and f.name in row:
        import datetime
        row[f.name] = datetime.datetime.fromisoformat(row[f.name])
    if pa.types.is_date32(f.type) and f.name in row:
        import datetime
        row[f.name] = datetime.date.fromisoformat(row[f.name])
write_deltalake(uri, pa.Table.from_pylist([row], schema=schema), mode="append",
    commit_properties=CommitProperties(app_transactions=[Transaction(app, version)]))
print(DeltaTable(uri).version())
`

// TestLocalTableReadByDeltaRS writes batches to a local table (with a
// poison record and a redelivered batch), reads it with delta-rs (schema,
// rows, txn version, protocol), lets delta-rs append a row and a txn, and
// checks that the sink continues after it.
func TestLocalTableReadByDeltaRS(t *testing.T) {
	python(t)
	dir := filepath.Join(t.TempDir(), "orders")
	cfg := testConfig(t, func(c *Config) { c.Tables = []Table{tableConfig(ordersTopic, dir)} })
	s, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	var batch []connect.SinkRecord
	for i := range 10 {
		p := orderJSON(i)
		if i == 4 {
			p = `{"id":"o-4","qty":"four"}` // poison: qty is not a number
		}
		batch = append(batch, orderRec(uint64(i), p))
	}
	err = s.WriteBatch(t.Context(), batch)
	var be *connect.BatchError
	if !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].Index != 4 || connect.ClassOf(be.Failures[0].Err) != connect.ClassInvalidData ||
		!strings.Contains(be.Failures[0].Err.Error(), `column "qty"`) {
		t.Fatalf("WriteBatch = %v, want record 4 invalid naming column qty", err)
	}
	// Redelivery of the whole batch plus new records: 0..9 are skipped,
	// the poison record is dead-lettered again.
	for i := 10; i < 15; i++ {
		batch = append(batch, orderRec(uint64(i), orderJSON(i)))
	}
	if err := s.WriteBatch(t.Context(), batch); !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].Index != 4 {
		t.Fatalf("WriteBatch of the redelivered batch = %v, want record 4 invalid again", err)
	}
	app := AppID("dl", "dl", ordersTopic)
	r := readWithDeltaRS(t, dir, nil, app)
	if len(r.Rows) != 14 || r.Txn[app] == nil || *r.Txn[app] != 14 || r.Protocol != [2]int{ReaderVersion, WriterVersion} || r.Version != 2 {
		t.Fatalf("delta-rs read %d rows, txn %v, protocol %v, version %d; want 14 rows, txn 14, protocol [1 2], version 2", len(r.Rows), r.Txn[app], r.Protocol, r.Version)
	}
	wantSchema := [][3]any{{"id", "string", false}, {"qty", "long", true}, {"price", "double", true}, {"ok", "boolean", true},
		{"user_name", "string", true}, {"at", "timestamp", true}, {"day", "date", true}, {ColTopic, "string", false},
		{ColPartition, "integer", false}, {ColOffset, "long", false}, {ColPublishTime, "timestamp", false}, {ColRecordID, "string", true}}
	if fmt.Sprint(r.Schema) != fmt.Sprint(wantSchema) {
		t.Fatalf("schema\n got %v\nwant %v", r.Schema, wantSchema)
	}
	seen := map[float64]bool{}
	for _, row := range r.Rows {
		off := row[ColOffset].(float64)
		i := int(off)
		if seen[off] || i == 4 {
			t.Fatalf("offset %v twice or the poison record written: %v", off, row)
		}
		seen[off] = true
		want := map[string]any{"id": fmt.Sprintf("o-%d", i), "qty": float64(i), "price": float64(i) + 0.5, "ok": i%2 == 0,
			"user_name": fmt.Sprintf("u%d", i), "at": fmt.Sprintf("2024-05-01T10:00:%02d+00:00", i%60), "day": fmt.Sprintf("2024-05-0%d", 1+i%3),
			ColTopic: ordersTopic, ColPartition: float64(-1), ColRecordID: fmt.Sprintf("src/p/%d", i),
		}
		if pt, err := time.Parse(time.RFC3339Nano, fmt.Sprint(row[ColPublishTime])); err != nil || !pt.Equal(time.UnixMilli(1_700_000_000_000+int64(i))) {
			t.Fatalf("row %d: publish time %v, want the record's", i, row[ColPublishTime])
		}
		for k, v := range want {
			if row[k] != v {
				t.Fatalf("row %d: %s = %#v, want %#v (row %v)", i, k, row[k], v, row)
			}
		}
	}

	// delta-rs appends a row and moves the txn to 20; the sink, reopened,
	// reads that commit and skips offsets up to 20.
	pyRow := `{"id":"py","_danube_topic":"py","_danube_partition":0,"_danube_offset":999,"_danube_publish_time":"2024-01-01T00:00:00+00:00"}`
	if v := strings.TrimSpace(string(runPython(t, appendScript, dir, pyRow, app, "20"))); v != "3" {
		t.Fatalf("delta-rs append made version %s, want 3", v)
	}
	s2, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	batch = batch[:0]
	for i := 15; i < 25; i++ {
		batch = append(batch, orderRec(uint64(i), orderJSON(i)))
	}
	if err := s2.WriteBatch(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	r = readWithDeltaRS(t, dir, nil, app)
	if len(r.Rows) != 14+1+4 || *r.Txn[app] != 24 || r.Version != 4 {
		t.Fatalf("after the delta-rs append: %d rows, txn %d, version %d; want 19 rows, txn 24, version 4", len(r.Rows), *r.Txn[app], r.Version)
	}
}

// TestPartitionedTable writes a table partitioned by a string (with
// characters that need escaping) and a date column and reads it with
// delta-rs, partition values included.
func TestPartitionedTable(t *testing.T) {
	python(t)
	dir := filepath.Join(t.TempDir(), "parts")
	cfg := testConfig(t, func(c *Config) {
		c.Tables = []Table{{Topic: ordersTopic, TableURI: dir, SchemaSource: "fields", WriteMode: "append",
			Fields:          []Field{{Path: "id", Type: TypeString}, {Path: "region", Type: TypeString}, {Path: "day", Type: TypeDate}, {Path: "qty", Type: TypeLong, Nullable: true}},
			MetadataColumns: []string{"offset"}, PartitionColumns: []string{"region", "day"}}}
		c.CheckpointInterval = 1
	})
	s, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	regions := []string{"eu", "us west/1", "ä=b%"}
	var batch []connect.SinkRecord
	for i := range 12 {
		batch = append(batch, orderRec(uint64(i), fmt.Sprintf(`{"id":"r%d","region":%q,"day":"2024-05-0%d","qty":%d}`, i, regions[i%3], 1+i%2, i)))
	}
	batch = append(batch, orderRec(12, `{"id":"nope","day":"2024-05-01"}`)) // no region: dead-lettered
	err = s.WriteBatch(t.Context(), batch)
	var be *connect.BatchError
	if !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].Index != 12 {
		t.Fatalf("WriteBatch = %v, want record 12 invalid", err)
	}
	// Readers find the partition values in the checkpoint of version 1.
	for v := range int64(2) {
		if err := os.Remove(filepath.Join(dir, logDir, commitName(v))); err != nil {
			t.Fatal(err)
		}
	}
	r := readWithDeltaRS(t, dir, nil)
	if len(r.Rows) != 12 || r.Files != 6 {
		t.Fatalf("%d rows in %d files, want 12 in 6", len(r.Rows), r.Files)
	}
	s2, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	for path, a := range s2.tables[ordersTopic].snap.files {
		if a.PartitionValues["region"] == nil || a.PartitionValues["day"] == nil || !strings.Contains(path, "day="+*a.PartitionValues["day"]) {
			t.Fatalf("file %s read back from the checkpoint with partition values %v", path, a.PartitionValues)
		}
	}
	for _, row := range r.Rows {
		var i int
		fmt.Sscanf(row["id"].(string), "r%d", &i)
		if row["region"] != regions[i%3] || row["day"] != fmt.Sprintf("2024-05-0%d", 1+i%2) || row["qty"] != float64(i) {
			t.Fatalf("row %v", row)
		}
	}
}

// TestSchemaFromTable opens a table created by delta-rs with
// schema_source = "table": the sink takes its columns, reads each from the
// record's top-level field of the same name, and delta-rs reads the rows.
func TestSchemaFromTable(t *testing.T) {
	python(t)
	dir := filepath.Join(t.TempDir(), "existing")
	runPython(t, `
import sys, pyarrow as pa
from deltalake import write_deltalake
schema = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("n", pa.int64()),
  pa.field("_danube_offset", pa.int64(), nullable=False)])
write_deltalake(sys.argv[1], pa.Table.from_pylist([{"name": "py", "n": 1, "_danube_offset": 0}], schema=schema))`, dir)
	cfg := testConfig(t, func(c *Config) {
		c.Tables = []Table{{Topic: ordersTopic, TableURI: dir, SchemaSource: "table", MetadataColumns: []string{"offset"}, WriteMode: "append"}}
	})
	s, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	err = s.WriteBatch(t.Context(), []connect.SinkRecord{orderRec(1, `{"name":"a","n":2}`), orderRec(2, `{"n":3}`), orderRec(3, `{"name":"c"}`)})
	var be *connect.BatchError
	if !errors.As(err, &be) || len(be.Failures) != 1 || be.Failures[0].Index != 1 {
		t.Fatalf("WriteBatch = %v, want record 1 (no name) invalid", err)
	}
	r := readWithDeltaRS(t, dir, nil)
	if len(r.Rows) != 3 || r.Version != 1 {
		t.Fatalf("%d rows at version %d, want 3 at 1: %v", len(r.Rows), r.Version, r.Rows)
	}
}
