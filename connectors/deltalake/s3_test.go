package deltalake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// startS3 starts an in-process S3-compatible server (gofakes3 with its
// memory backend, which checks If-None-Match under its lock) on loopback
// with bucket "lake"; wrap, when not nil, wraps its handler.
func startS3(t *testing.T, wrap func(http.Handler) http.Handler) (string, map[string]string) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(backend).Server()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return srv.URL, map[string]string{"AWS_ENDPOINT_URL": srv.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret",
		"AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
}

// TestS3 writes to a table in an S3-compatible server from two sinks at
// once (commits race for the same versions), checkpoints, and reads the
// table back with delta-rs.
func TestS3(t *testing.T) {
	python(t)
	endpoint, storage := startS3(t, nil)
	const uri = "s3://lake/tables/orders"
	mk := func() Config {
		return testConfig(t, func(c *Config) {
			c.Tables = []Table{tableConfig(ordersTopic, uri)}
			c.S3 = S3{Endpoint: endpoint, Region: "us-east-1", PathStyle: true}
			c.CheckpointInterval = 5
		})
	}
	var sinks [2]*Sink
	for i := range sinks {
		s := New(mk(), Options{})
		if err := s.Open(t.Context(), connect.SinkEnv{Name: fmt.Sprintf("w%d", i), Logger: discard(), Topics: []string{ordersTopic}}); err != nil {
			t.Fatal(err)
		}
		sinks[i] = s
	}
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Go(func() {
			for b := range 6 {
				var batch []connect.SinkRecord
				for j := range 5 {
					off := uint64(b*5 + j)
					batch = append(batch, orderRec(off, orderJSON(i*100+int(off))))
				}
				if err := s.WriteBatch(t.Context(), batch); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	apps := []string{AppID("w0", "w0", ordersTopic), AppID("w1", "w1", ordersTopic)}
	r := readWithDeltaRS(t, uri, storage, apps...)
	if len(r.Rows) != 60 || r.Version != 12 || *r.Txn[apps[0]] != 29 || *r.Txn[apps[1]] != 29 || r.Files != 12 {
		t.Fatalf("delta-rs read %d rows, %d files, version %d, txns %v %v; want 60, 12, 12, 29, 29", len(r.Rows), r.Files, r.Version, *r.Txn[apps[0]], *r.Txn[apps[1]])
	}
	ids := map[string]bool{}
	for _, row := range r.Rows {
		ids[row["id"].(string)] = true
	}
	if len(ids) != 60 {
		t.Fatalf("%d distinct ids, want 60", len(ids))
	}
	// A new sink starts from the checkpoint at 10 and the commits after it.
	s, err := openSink(t, mk(), ordersTopic)
	if err != nil {
		t.Fatal(err)
	}
	if snap := s.tables[ordersTopic].snap; snap.version != 12 || len(snap.files) != 12 {
		t.Fatalf("reopened at version %d with %d files, want 12 and 12", snap.version, len(snap.files))
	}
	if _, err := s.tables[ordersTopic].st.Get(t.Context(), logDir+"/"+checkpointName(10)); err != nil {
		t.Fatalf("checkpoint 10: %v", err)
	}
	// delta-rs appends (its own put-if-absent on the same server) and the
	// sink continues after it.
	storage["conditional_put"] = "etag"
	opts, _ := json.Marshal(storage)
	runPython(t, `
import sys, json, pyarrow as pa
from deltalake import DeltaTable, write_deltalake
uri, opts = sys.argv[1], json.loads(sys.argv[2])
schema = pa.schema(DeltaTable(uri, storage_options=opts).schema().to_arrow())
row = {"id": "py", "_danube_topic": "py", "_danube_partition": 0, "_danube_offset": 0, "_danube_publish_time": None}
import datetime; row["_danube_publish_time"] = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
write_deltalake(uri, pa.Table.from_pylist([row], schema=schema), mode="append", storage_options=opts)`, uri, string(opts))
	writeOrders(t, s, 30, 35)
	r = readWithDeltaRS(t, uri, storage, apps...)
	if len(r.Rows) != 66 || r.Version != 14 {
		t.Fatalf("after the delta-rs append: %d rows, version %d; want 66, 14", len(r.Rows), r.Version)
	}
}

// TestS3IgnoringIfNoneMatch checks that a server that ignores
// If-None-Match is refused at start.
func TestS3IgnoringIfNoneMatch(t *testing.T) {
	endpoint, _ := startS3(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("If-None-Match")
			h.ServeHTTP(w, r)
		})
	})
	cfg := testConfig(t, func(c *Config) {
		c.Tables = []Table{tableConfig(ordersTopic, "s3://lake/t")}
		c.S3 = S3{Endpoint: endpoint, Region: "us-east-1", PathStyle: true}
	})
	_, err := openSink(t, cfg, ordersTopic)
	if connect.ClassOf(err) != connect.ClassConfiguration || !strings.Contains(err.Error(), "If-None-Match") {
		t.Fatalf("err = %v, want a configuration error about If-None-Match", err)
	}
}
