package deltalake

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danube-connect/connect"
)

func writeOrders(t *testing.T, s *Sink, from, to int) {
	t.Helper()
	var batch []connect.SinkRecord
	for i := from; i < to; i++ {
		batch = append(batch, orderRec(uint64(i), orderJSON(i)))
	}
	if err := s.WriteBatch(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpoints checks that the sink writes checkpoints every
// checkpoint_interval versions that delta-rs reads without the commits
// before them, that the sink itself resumes from its checkpoint, and that
// it resumes from a checkpoint written by delta-rs.
func TestCheckpoints(t *testing.T) {
	python(t)
	dir := filepath.Join(t.TempDir(), "orders")
	cfg := testConfig(t, func(c *Config) { c.Tables = []Table{tableConfig(ordersTopic, dir)}; c.CheckpointInterval = 3 })
	s, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 7 { // versions 1..7
		writeOrders(t, s, 2*b, 2*b+2)
	}
	var lc lastCheckpoint
	data, err := os.ReadFile(filepath.Join(dir, logDir, "_last_checkpoint"))
	if err != nil || json.Unmarshal(data, &lc) != nil || lc.Version != 6 {
		t.Fatalf("_last_checkpoint = %s (%v), want version 6", data, err)
	}
	for _, v := range []int64{3, 6} {
		if _, err := os.Stat(filepath.Join(dir, logDir, checkpointName(v))); err != nil {
			t.Fatalf("checkpoint %d: %v", v, err)
		}
	}
	// Log cleanup: without the commits up to 6, readers need the checkpoint.
	for v := range int64(7) {
		if err := os.Remove(filepath.Join(dir, logDir, commitName(v))); err != nil {
			t.Fatal(err)
		}
	}
	app := AppID("dl", "dl", ordersTopic)
	r := readWithDeltaRS(t, dir, nil, app)
	if len(r.Rows) != 14 || *r.Txn[app] != 13 || r.Version != 7 {
		t.Fatalf("delta-rs from the checkpoint: %d rows, txn %v, version %d; want 14, 13, 7", len(r.Rows), r.Txn[app], r.Version)
	}
	// The sink resumes from its own checkpoint: 12 and 13 are skipped.
	s2, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	if v := s2.tables[ordersTopic].snap.txns[app]; v != 13 {
		t.Fatalf("txn after reopening = %d, want 13", v)
	}
	writeOrders(t, s2, 12, 16) // version 8
	// delta-rs writes a checkpoint at 8; the sink resumes from it.
	runPython(t, "import sys; from deltalake import DeltaTable; DeltaTable(sys.argv[1]).create_checkpoint()", dir)
	if _, err := os.Stat(filepath.Join(dir, logDir, checkpointName(8))); err != nil {
		t.Fatalf("delta-rs checkpoint: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, logDir, commitName(8))); err != nil {
		t.Fatal(err)
	}
	s3, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	snap := s3.tables[ordersTopic].snap
	if snap.version != 8 || snap.txns[app] != 15 || len(snap.files) != 8 || snap.meta == nil || snap.protocol == nil {
		t.Fatalf("state from the delta-rs checkpoint: version %d, txn %d, %d files; want 8, 15, 8", snap.version, snap.txns[app], len(snap.files))
	}
	writeOrders(t, s3, 14, 18)
	r = readWithDeltaRS(t, dir, nil, app)
	if len(r.Rows) != 18 || *r.Txn[app] != 17 {
		t.Fatalf("final: %d rows, txn %v; want 18, 17", len(r.Rows), r.Txn[app])
	}
}

// TestExistingTableMismatch checks that a table with another schema,
// partitioning or an unsupported protocol is a Configuration error naming
// each difference.
func TestExistingTableMismatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orders")
	cfg := testConfig(t, func(c *Config) { c.Tables = []Table{tableConfig(ordersTopic, dir)} })
	if _, err := openSink(t, cfg, ordersTopic); err != nil {
		t.Fatal(err)
	}
	other := testConfig(t, func(c *Config) {
		tc := tableConfig(ordersTopic, dir)
		tc.Fields = []Field{
			{Path: "id", Type: TypeString},
			{Path: "qty", Type: TypeInteger, Nullable: true},
			{Path: "price", Type: TypeDouble, Nullable: true},
			{Path: "extra", Type: TypeString, Nullable: true},
			{Path: "user.name", Column: "user_name", Type: TypeString, Nullable: true},
			{Path: "at", Type: TypeTimestamp, Nullable: true},
			{Path: "day", Type: TypeDate, Nullable: true},
		}
		tc.PartitionColumns = []string{ColTopic}
		c.Tables = []Table{tc}
	})
	_, err := openSink(t, other, ordersTopic)
	if connect.ClassOf(err) != connect.ClassConfiguration {
		t.Fatalf("err = %v, want a configuration error", err)
	}
	for _, want := range []string{`column "qty" is long in the table, configured integer`, `column "extra" (string) is missing from the table`,
		`the table has column "ok" (boolean), which is not configured`, `partitioned by [], configured [_danube_topic]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}

	python(t)
	cdf := filepath.Join(t.TempDir(), "cdf")
	runPython(t, `
import sys, pyarrow as pa
from deltalake import write_deltalake
write_deltalake(sys.argv[1], pa.table({"id": ["a"]}), configuration={"delta.enableChangeDataFeed": "true"})`, cdf)
	_, err = openSink(t, testConfig(t, func(c *Config) {
		c.Tables = []Table{{Topic: ordersTopic, TableURI: cdf, SchemaSource: "table"}}
	}), ordersTopic)
	if connect.ClassOf(err) != connect.ClassConfiguration || !strings.Contains(err.Error(), "writer version") {
		t.Fatalf("err = %v, want a configuration error about the writer version", err)
	}
}

// TestCompactedByDeltaRS lets delta-rs compact the sink's small files
// (optimize: remove and add actions) while the sink runs, then checks that
// the sink keeps committing and checkpointing on top of it.
func TestCompactedByDeltaRS(t *testing.T) {
	python(t)
	dir := filepath.Join(t.TempDir(), "orders")
	cfg := testConfig(t, func(c *Config) { c.Tables = []Table{tableConfig(ordersTopic, dir)}; c.CheckpointInterval = 4 })
	s, err := openSink(t, cfg, ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 5 { // versions 1..5, 5 files
		writeOrders(t, s, 3*b, 3*b+3)
	}
	runPython(t, "import sys; from deltalake import DeltaTable; DeltaTable(sys.argv[1]).optimize.compact()", dir) // version 6
	writeOrders(t, s, 15, 18)                                                                                     // loses the race for 6, commits 7
	writeOrders(t, s, 18, 21)                                                                                     // 8: checkpoint with the tombstones
	snap := s.tables[ordersTopic].snap
	if snap.version != 8 || len(snap.files) != 3 || len(snap.removes) != 5 {
		t.Fatalf("version %d, %d files, %d tombstones; want 8, 3, 5", snap.version, len(snap.files), len(snap.removes))
	}
	for v := range int64(9) {
		if err := os.Remove(filepath.Join(dir, logDir, commitName(v))); err != nil {
			t.Fatal(err)
		}
	}
	app := AppID("dl", "dl", ordersTopic)
	r := readWithDeltaRS(t, dir, nil, app)
	if len(r.Rows) != 21 || r.Files != 3 || *r.Txn[app] != 20 {
		t.Fatalf("delta-rs read %d rows in %d files, txn %v; want 21, 3, 20", len(r.Rows), r.Files, r.Txn[app])
	}
}
