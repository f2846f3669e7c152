package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/postgres"
	"github.com/danube-connect/connect/internal/pgtest"
)

// benchBatch is the runtime's default batch size.
const benchBatch = 1000

// benchRecords returns one batch of 256-byte JSON records with offsets
// from first on.
func benchRecords(first int) ([]connect.SinkRecord, [][]any) {
	recs := make([]connect.SinkRecord, benchBatch)
	rows := make([][]any, benchBatch)
	for i := range recs {
		off := first + i
		id := fmt.Sprintf("id-%09d", off)
		name := fmt.Sprintf("customer %d", off%977)
		p := fmt.Sprintf(`{"id":%q,"seq":%d,"name":%q,"data":""}`, id, off, name)
		data := strings.Repeat("x", 256-len(p))
		p = p[:len(p)-2] + data + `"}`
		recs[i] = connect.SinkRecord{Topic: "/default/bench", PartitionTopic: "/default/bench", Partition: -1,
			Offset: uint64(off), Payload: []byte(p), PublishTime: time.Now()}
		rows[i] = []any{id, int64(off), name, data}
	}
	return recs, rows
}

// BenchmarkWrite measures rows/s of WriteBatch with 1000 records of 256 B
// JSON per batch, mapped to four columns, against pgx.CopyFrom of the same
// rows into an identical table, alternating batch by batch in the same
// run: ratio = sink rows/s ÷ CopyFrom rows/s.
func BenchmarkWrite(b *testing.B) {
	srv := pgtest.Start(b, pgtest.Options{})
	for _, tc := range []struct {
		mode string
		eo   bool
	}{{"insert", false}, {"insert", true}, {"upsert", false}, {"upsert", true}} {
		b.Run(fmt.Sprintf("%s/exactly_once=%v", tc.mode, tc.eo), func(b *testing.B) {
			d := newDB(b, srv)
			d.exec(b, "CREATE TABLE target (id text PRIMARY KEY, seq bigint, name text, data text)")
			d.exec(b, "CREATE TABLE baseline (id text PRIMARY KEY, seq bigint, name text, data text)")
			cfg := d.cfg(postgres.Table{Table: "target", Mode: tc.mode, KeyColumns: []string{"id"},
				Columns: map[string]string{"id": "id", "seq": "seq", "name": "name", "data": "data"}})
			cfg.ExactlyOnce = tc.eo
			sink := postgres.New(cfg)
			ctx := context.Background()
			if err := sink.Open(ctx, connect.SinkEnv{Name: "bench"}); err != nil {
				b.Fatal(err)
			}
			defer sink.Close(ctx)
			conn := d.conn(b)
			var sinkTime, baseTime time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				recs, rows := benchRecords(i * benchBatch)
				// Alternate which goes first, so that neither profits from
				// the other's commit.
				for j := range 2 {
					start := time.Now()
					if (i+j)%2 == 0 {
						if _, err := conn.CopyFrom(ctx, pgx.Identifier{"baseline"}, []string{"id", "seq", "name", "data"}, pgx.CopyFromRows(rows)); err != nil {
							b.Fatal(err)
						}
						baseTime += time.Since(start)
					} else {
						if err := sink.WriteBatch(ctx, recs); err != nil {
							b.Fatal(err)
						}
						sinkTime += time.Since(start)
					}
				}
			}
			b.StopTimer()
			n := float64(b.N * benchBatch)
			b.ReportMetric(n/sinkTime.Seconds(), "rows/s")
			b.ReportMetric(n/baseTime.Seconds(), "copyfrom-rows/s")
			b.ReportMetric(baseTime.Seconds()/sinkTime.Seconds(), "ratio")
		})
	}
}
