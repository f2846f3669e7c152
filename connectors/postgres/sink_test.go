package postgres_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/postgres"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/internal/pgtest"
	"github.com/danube-connect/connect/schema"
)

func order(i int, key string) connecttest.Message {
	return connecttest.Message{
		Payload:    fmt.Appendf(nil, `{"id":"o-%03d","qty":%d,"customer":{"name":"c%d","tier":"gold"},"note":"tab\there\nnewline \\ back"}`, i, i, i%3),
		Key:        key,
		Attributes: map[string]string{"seq": strconv.Itoa(i)},
	}
}

// TestModes writes JSON records in every mode and reads the rows back.
func TestModes(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	for _, eo := range []bool{true, false} {
		t.Run("insert/exactly_once="+strconv.FormatBool(eo), func(t *testing.T) {
			d := newDB(t, srv)
			d.exec(t, `CREATE TABLE orders (id text, qty int, customer text, note text, topic text, part int, off bigint,
				published timestamptz, rid text, k text, attrs jsonb)`)
			cfg := d.cfg(postgres.Table{Table: "orders", Columns: map[string]string{
				"id": "id", "qty": "qty", "customer": "customer.name", "note": "note",
				"topic": "@topic", "part": "@partition", "off": "@offset", "published": "@publish_time",
				"rid": "@record_id", "k": "@key", "attrs": "@attributes",
			}})
			cfg.ExactlyOnce = eo
			run := connecttest.RunSink(t, postgres.New(cfg))
			var msgs []connecttest.Message
			for i := range 30 {
				msgs = append(msgs, order(i, "k"+strconv.Itoa(i%4)))
			}
			offs := run.Publish(msgs...)
			rep := run.Wait()
			if len(rep.Acked) != len(offs) || len(rep.DeadLettered) != 0 {
				t.Fatalf("%v", rep)
			}
			if n := d.count(t, "SELECT count(*) FROM orders"); n != 30 {
				t.Fatalf("%d rows, want 30", n)
			}
			got := d.strings(t, `SELECT concat_ws('|', id, qty, customer, note, topic, part, off, rid = topic || '#' || off, k, attrs->>'seq', published > now() - interval '1 hour')
				FROM orders WHERE id = 'o-007'`)
			want := "o-007|7|c1|tab\there\nnewline \\ back|" + run.Topic() + "|0|" + strconv.FormatUint(offs[7], 10) + "|t|k3|7|t"
			if len(got) != 1 || got[0] != want {
				t.Fatalf("row %q\nwant %q", got, want)
			}
			if eo {
				if n := d.count(t, "SELECT count(*) FROM danube_connect_offsets"); n != 1 {
					t.Errorf("%d state rows, want 1 (the offsets merge into one range)", n)
				}
			}
		})
	}
	t.Run("upsert", func(t *testing.T) {
		d := newDB(t, srv)
		d.exec(t, `CREATE TABLE accounts (id text PRIMARY KEY, balance numeric NOT NULL, updated timestamptz)`)
		cfg := d.cfg(postgres.Table{Table: "accounts", Mode: "upsert", KeyColumns: []string{"id"},
			Columns: map[string]string{"id": "account", "balance": "balance", "updated": "@publish_time"}})
		run := connecttest.RunSink(t, postgres.New(cfg), connecttest.WithBatch(connect.BatchPolicy{MaxRecords: 50, MaxWait: 20 * time.Millisecond}))
		var msgs []connecttest.Message
		for i := range 60 {
			acct := "a" + strconv.Itoa(i%5)
			msgs = append(msgs, connecttest.Message{Key: acct, Payload: fmt.Appendf(nil, `{"account":%q,"balance":%d.25}`, acct, i)})
		}
		run.Publish(msgs...)
		rep := run.Wait()
		if len(rep.Acked) != 60 || len(rep.DeadLettered) != 0 {
			t.Fatalf("%v", rep)
		}
		got := d.strings(t, "SELECT id || '=' || balance FROM accounts ORDER BY id")
		want := []string{"a0=55.25", "a1=56.25", "a2=57.25", "a3=58.25", "a4=59.25"}
		if !slices.Equal(got, want) {
			t.Fatalf("rows %v, want %v (last write per key)", got, want)
		}
	})
	t.Run("jsonb", func(t *testing.T) {
		d := newDB(t, srv)
		cfg := d.cfg(postgres.Table{Table: "events", Mode: "jsonb", AutoCreate: true,
			Columns: map[string]string{"topic": "@topic", "off": "@offset", "k": "@key", "attrs": "@attributes"}})
		run := connecttest.RunSink(t, postgres.New(cfg))
		var msgs []connecttest.Message
		for i := range 10 {
			msgs = append(msgs, order(i, "k"))
		}
		run.Publish(msgs...)
		if rep := run.Wait(); len(rep.Acked) != 10 {
			t.Fatalf("%v", rep)
		}
		got := d.strings(t, "SELECT (payload->'customer'->>'name') || ':' || (payload->>'qty') || ':' || k || ':' || pg_typeof(payload)::text FROM events ORDER BY off")
		if len(got) != 10 || got[4] != "c1:4:k:jsonb" {
			t.Fatalf("rows %v", got)
		}
	})
}

// TestSchemaRecords maps registry-decoded records (JSON Schema and Avro)
// by field name.
func TestSchemaRecords(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	avro := schema.Spec{Subject: "readings-avro", Type: schema.Avro, Definition: []byte(`{"type":"record","name":"Reading","fields":[
		{"name":"sensor","type":"string"},
		{"name":"value","type":"double"},
		{"name":"count","type":"long"},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"raw","type":"bytes"},
		{"name":"loc","type":{"type":"record","name":"Loc","fields":[{"name":"room","type":"string"}]}},
		{"name":"label","type":["null","string"],"default":null}]}`)}
	jsonSchema := schema.Spec{Subject: "readings-json", Type: schema.JSONSchema, Definition: []byte(`{"type":"object","properties":{
		"sensor":{"type":"string"},"value":{"type":"number"},"count":{"type":"integer"},"at":{"type":"string"},
		"loc":{"type":"object","properties":{"room":{"type":"string"}}}},"required":["sensor","value"]}`)}
	at := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		spec  schema.Spec
		value func(i int) any
		cols  map[string]string
	}{
		{"avro", avro, func(i int) any {
			var label any
			if i%2 == 0 {
				label = map[string]any{"string": "even"}
			}
			return map[string]any{"sensor": "s" + strconv.Itoa(i), "value": float64(i) + 0.5, "count": int64(i) * 1000000000,
				"at": at.Add(time.Duration(i) * time.Second), "raw": []byte{0xde, 0xad, byte(i)},
				"loc": map[string]any{"room": "r" + strconv.Itoa(i)}, "label": label}
		}, map[string]string{"sensor": "sensor", "value": "value", "count": "count", "at": "at", "raw": "raw", "room": "loc.room", "label": "label.string"}},
		{"json_schema", jsonSchema, func(i int) any {
			return map[string]any{"sensor": "s" + strconv.Itoa(i), "value": float64(i) + 0.5, "count": int64(i) * 1000000000,
				"at": at.Add(time.Duration(i) * time.Second).Format(time.RFC3339), "loc": map[string]any{"room": "r" + strconv.Itoa(i)}}
		}, map[string]string{"sensor": "sensor", "value": "value", "count": "count", "at": "at", "room": "loc.room"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDB(t, srv)
			d.exec(t, `CREATE TABLE readings (sensor text PRIMARY KEY, value double precision, count bigint, at timestamptz, raw bytea, room text, label text)`)
			cfg := d.cfg(postgres.Table{Table: "readings", Columns: tc.cols})
			run := connecttest.RunSink(t, postgres.New(cfg), connecttest.WithSchema(tc.spec))
			var msgs []connecttest.Message
			for i := range 6 {
				msgs = append(msgs, connecttest.Message{Value: tc.value(i)})
			}
			run.Publish(msgs...)
			if rep := run.Wait(); len(rep.Acked) != 6 || len(rep.DeadLettered) != 0 {
				t.Fatalf("%v", rep)
			}
			got := d.strings(t, `SELECT concat_ws('|', sensor, value, count, to_char(at AT TIME ZONE 'UTC', 'HH24:MI:SS'), encode(raw, 'hex'), room, label)
				FROM readings WHERE sensor = 's2'`)
			want := "s2|2.5|2000000000|12:30:02|dead02|r2|even"
			if tc.name == "json_schema" {
				want = "s2|2.5|2000000000|12:30:02|r2"
			}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("row %q, want %q", got, want)
			}
		})
	}
}

// TestPoisonRows publishes rows the table rejects among good ones: the
// good rows commit, each bad one is dead-lettered with its SQLSTATE.
func TestPoisonRows(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	for _, mode := range []string{"insert", "upsert"} {
		for _, eo := range []bool{true, false} {
			t.Run(mode+"/exactly_once="+strconv.FormatBool(eo), func(t *testing.T) {
				d := newDB(t, srv)
				d.exec(t, `CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL CHECK (qty >= 0), name text)`)
				cfg := d.cfg(postgres.Table{Table: "items", Mode: mode, KeyColumns: []string{"id"},
					Columns: map[string]string{"id": "id", "qty": "qty", "name": "name"}})
				cfg.ExactlyOnce = eo
				run := connecttest.RunSink(t, postgres.New(cfg), connecttest.WithBatch(connect.BatchPolicy{MaxRecords: 100, MaxWait: 200 * time.Millisecond}))
				var msgs []connecttest.Message
				bad := map[int]string{3: "23514", 7: "22P02", 11: "23502", 15: "22003", 18: "not JSON"}
				for i := range 20 {
					p := fmt.Sprintf(`{"id":%d,"qty":%d,"name":"n%d"}`, i, i, i)
					switch i {
					case 3:
						p = `{"id":3,"qty":-1}` // check constraint
					case 7:
						p = `{"id":7,"qty":"seven"}` // does not convert to int
					case 11:
						p = `{"id":11,"name":"no qty"}` // not null
					case 15:
						p = `{"id":15,"qty":99999999999}` // out of range
					case 18:
						p = `{"id":18,` // not JSON
					}
					msgs = append(msgs, connecttest.Message{Payload: []byte(p), Key: "k"})
				}
				offs := run.Publish(msgs...)
				rep := run.Wait()
				if rep.Stopped || len(rep.Acked) != 20 {
					t.Fatalf("%v", rep)
				}
				if n := d.count(t, "SELECT count(*) FROM items"); n != 15 {
					t.Errorf("%d rows, want the 15 good ones", n)
				}
				if len(rep.DeadLettered) != len(bad) {
					t.Fatalf("%d dead letters, want %d: %v", len(rep.DeadLettered), len(bad), rep)
				}
				for _, dl := range rep.DeadLettered {
					i := slices.Index(offs, dl.OriginalOffset)
					want, ok := bad[i]
					if !ok {
						t.Errorf("good record %d dead-lettered: %s", i, dl.Reason)
						continue
					}
					if dl.Class != "invalid_data" || !strings.Contains(dl.Reason, want) || dl.Attempt != 1 {
						t.Errorf("record %d: class %s attempt %d reason %q, want invalid_data naming %s", i, dl.Class, dl.Attempt, dl.Reason, want)
					}
				}
				if eo {
					// The dead-lettered records are not in the state: only written rows are.
					if n := d.count(t, "SELECT count(*) FROM danube_connect_offsets"); n == 0 {
						t.Errorf("no state rows")
					}
				}
			})
		}
	}
}

// TestRestartMidStream stops PostgreSQL while records flow and starts it
// again: every record ends up exactly once in the table, without a restart
// of the connector.
func TestRestartMidStream(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	d := newDB(t, srv)
	d.exec(t, `CREATE TABLE stream (id int PRIMARY KEY, off bigint)`)
	cfg := d.cfg(postgres.Table{Table: "stream", Columns: map[string]string{"id": "id", "off": "@offset"}})
	run := connecttest.RunSink(t, postgres.New(cfg),
		connecttest.WithBatch(connect.BatchPolicy{MaxRecords: 20, MaxWait: 5 * time.Millisecond}),
		connecttest.WithRetry(connect.RetryPolicy{MaxRetries: 1000, Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}),
		connecttest.WithSinkConfig(func(c *connect.SinkConfig) { c.Breaker.FailureThreshold = -1 }))
	const n = 600
	pub := func(from, to int) {
		for i := from; i < to; i++ {
			run.Publish(connecttest.Message{Payload: fmt.Appendf(nil, `{"id":%d}`, i), Key: "k" + strconv.Itoa(i%7)})
		}
	}
	pub(0, 200)
	deadline := time.Now().Add(30 * time.Second)
	for d.count(t, "SELECT count(*) FROM stream") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	srv.Stop()
	pub(200, 400)
	time.Sleep(300 * time.Millisecond) // writes fail while the server is down
	srv.Start()
	pub(400, n)
	rep := run.Wait()
	if rep.Stopped || len(rep.Acked) != n || len(rep.DeadLettered) != 0 {
		t.Fatalf("%v", rep)
	}
	if c := d.count(t, "SELECT count(*) FROM stream"); c != n {
		t.Fatalf("%d rows, want %d", c, n)
	}
	if c := d.count(t, "SELECT count(DISTINCT id) FROM stream WHERE id BETWEEN 0 AND $1", n-1); c != n {
		t.Fatalf("%d distinct ids, want %d", c, n)
	}
}

// TestConfigurationErrors: a table missing, a column missing, an upsert
// without a unique index on the key columns are Configuration errors at
// start.
func TestConfigurationErrors(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	d := newDB(t, srv)
	d.exec(t, `CREATE TABLE present (id int, name text)`)
	for _, tc := range []struct {
		name string
		tbl  postgres.Table
		want string
	}{
		{"missing table", postgres.Table{Table: "absent", Columns: map[string]string{"id": "id"}}, "absent"},
		{"missing column", postgres.Table{Table: "present", Columns: map[string]string{"id": "id", "nme": "name"}}, "nme"},
		{"upsert without unique index", postgres.Table{Table: "present", Mode: "upsert", KeyColumns: []string{"id"},
			Columns: map[string]string{"id": "id", "name": "name"}}, "unique index"},
		{"unmapped key", postgres.Table{Table: "present", Mode: "upsert", KeyColumns: []string{"name"},
			Columns: map[string]string{"id": "id"}}, "key column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := d.cfg(tc.tbl)
			run := connecttest.RunSink(t, postgres.New(cfg))
			rep := run.Wait()
			if !rep.Stopped || rep.ExitCode != 2 || !strings.Contains(fmt.Sprint(rep.Err), tc.want) {
				t.Fatalf("exit %d err %v, want exit 2 naming %q", rep.ExitCode, rep.Err, tc.want)
			}
		})
	}
	// Nothing was altered: the table still has its two columns.
	if got := d.strings(t, "SELECT attname::text FROM pg_attribute WHERE attrelid = 'present'::regclass AND attnum > 0 ORDER BY attnum"); !slices.Equal(got, []string{"id", "name"}) {
		t.Fatalf("columns %v", got)
	}
}

// TestConformance runs the acceptance kit with broker windows of 10 and
// 1000 unacknowledged messages.
func TestConformance(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	for _, window := range []int{10, 1000} {
		t.Run("window="+strconv.Itoa(window), func(t *testing.T) {
			// A database per broker: the exactly-once state is keyed by
			// subscription and topic, which a new broker reuses.
			d := newDB(t, srv)
			b := startBroker(t, window)
			connecttest.SinkConformance(t, func(t testing.TB) connect.Sink {
				tbl := freshTable("conf")
				d.exec(t, "CREATE TABLE "+tbl+" (seq bigserial, payload jsonb NOT NULL, id text UNIQUE)")
				return &namedSink{Sink: postgres.New(d.cfg(postgres.Table{Table: tbl, Mode: "jsonb",
					Columns: map[string]string{}})), table: tbl}
			},
				connecttest.WithBroker(b),
				connecttest.WithPoison(connecttest.Message{Payload: []byte(`{"id":`), Key: "k1"}),
				connecttest.WithReadBack(func(t testing.TB, s connect.Sink) [][]byte {
					var out [][]byte
					for _, p := range d.strings(t, "SELECT payload::text FROM "+s.(*namedSink).table+" ORDER BY seq") {
						var v any
						_ = json.Unmarshal([]byte(p), &v)
						b, _ := json.Marshal(v)
						out = append(out, b)
					}
					return out
				}),
				connecttest.WithMessages(func(i int) connecttest.Message {
					// Payloads in jsonb's normalised form, so that they read back byte for byte.
					key := "k" + strconv.Itoa(i%4)
					return connecttest.Message{Payload: fmt.Appendf(nil, `{"id":"m-%03d","key":%q,"seq":%d}`, i, key, i), Key: key}
				}))
		})
	}
}

// namedSink carries the table of a conformance sink.
type namedSink struct {
	*postgres.Sink
	table string
}
