package deltalake

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/devbroker"
)

// python returns the interpreter of the venv with the deltalake package
// (delta-rs): $DANUBE_CONNECT_PYTHON, else <repo root>/.venv/bin/python.
// Without it the test fails under CI=true and is skipped otherwise.
func python(t testing.TB) string {
	t.Helper()
	p := os.Getenv("DANUBE_CONNECT_PYTHON")
	if p == "" {
		if root, err := filepath.Abs("../.."); err == nil {
			p = filepath.Join(root, ".venv", "bin", "python")
		}
	}
	if err := exec.Command(p, "-c", "import deltalake, pyarrow").Run(); err != nil {
		msg := "the Python deltalake reader is missing (" + p + ": " + err.Error() + "); run scripts/install-test-deps or set DANUBE_CONNECT_PYTHON"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// pyRead is what the reference reader reports about a table.
type pyRead struct {
	Version  int64            `json:"version"`
	Protocol [2]int           `json:"protocol"`
	Schema   [][3]any         `json:"schema"` // name, type, nullable
	Rows     []map[string]any `json:"rows"`
	Txn      map[string]*int64
	Files    int `json:"files"`
}

const readScript = `
import sys, json
from deltalake import DeltaTable
uri, opts, apps = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
dt = DeltaTable(uri, storage_options=opts or None)
tbl = dt.to_pyarrow_table()
p = dt.protocol()
rows = tbl.to_pylist()
for r in rows:
    for k, v in r.items():
        if hasattr(v, "isoformat"):
            r[k] = v.isoformat()
        elif isinstance(v, bytes):
            r[k] = v.hex()
print(json.dumps({
  "version": dt.version(),
  "protocol": [p.min_reader_version, p.min_writer_version],
  "schema": [[f.name, str(f.type.type) if hasattr(f.type, "type") else str(f.type), f.nullable] for f in dt.schema().fields],
  "rows": rows,
  "txn": {a: dt.transaction_version(a) for a in apps},
  "files": len(dt.file_uris()),
}))
`

// readWithDeltaRS reads the table with delta-rs and reports it.
func readWithDeltaRS(t testing.TB, uri string, storage map[string]string, apps ...string) pyRead {
	t.Helper()
	opts, _ := json.Marshal(storage)
	out := runPython(t, readScript, append([]string{uri, string(opts)}, apps...)...)
	var r struct {
		pyRead
		Txn map[string]*int64 `json:"txn"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("delta-rs output %q: %v", out, err)
	}
	r.pyRead.Txn = r.Txn
	return r.pyRead
}

func runPython(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python(t), append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.Bytes())
	}
	return out
}

// testConfig is a section with defaults applied, edited by mutate and
// validated.
func testConfig(t testing.TB, mutate func(*Config)) Config {
	t.Helper()
	var c Config
	if err := config.ApplyDefaults(&c); err != nil {
		t.Fatal(err)
	}
	mutate(&c)
	for i := range c.Tables {
		tb := &c.Tables[i]
		if tb.SchemaSource == "" {
			tb.SchemaSource = "fields"
		}
		if tb.WriteMode == "" {
			tb.WriteMode = "append"
		}
	}
	if err := config.Validate(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// orderFields is the field list of the test records:
// {"id": "o-1", "qty": 3, "price": 2.5, "ok": true, "user": {"name": "ann"}, "at": "…", "day": "2024-05-01"}.
func orderFields() []Field {
	return []Field{
		{Path: "id", Type: TypeString, Nullable: false},
		{Path: "qty", Type: TypeLong, Nullable: true},
		{Path: "price", Type: TypeDouble, Nullable: true},
		{Path: "ok", Type: TypeBoolean, Nullable: true},
		{Path: "$.user.name", Column: "user_name", Type: TypeString, Nullable: true},
		{Path: "at", Type: TypeTimestamp, Nullable: true},
		{Path: "day", Type: TypeDate, Nullable: true},
	}
}

func tableConfig(topic, uri string) Table {
	return Table{Topic: topic, TableURI: uri, SchemaSource: "fields", Fields: orderFields(),
		MetadataColumns: []string{"topic", "partition", "offset", "publish_time", "record_id"}, WriteMode: "append"}
}

// startBroker starts a devbroker with a window of window unacked messages
// per subscription.
func startBroker(t testing.TB, window int, dir string) *devbroker.Broker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	b, err := devbroker.Start(context.Background(), devbroker.Config{
		DataDir: dir, Sync: devbroker.SyncNever, MaxUnackedMessages: window, TimerTick: 5 * time.Millisecond,
		FailurePolicy: devbroker.FailurePolicy{AckTimeout: 10 * time.Second, BaseRedeliveryDelay: time.Millisecond, MaxRedeliveryDelay: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openSink opens a sink directly (no runtime).
func openSink(t testing.TB, cfg Config, topics ...string) (*Sink, error) {
	t.Helper()
	s := New(cfg, Options{})
	err := s.Open(t.Context(), connect.SinkEnv{Name: "dl", Logger: discard(), Topics: topics})
	return s, err
}
