package deltalake

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/parquet-go/parquet-go"
)

const benchBatch = 1000

// benchPayload returns a 256-byte JSON record.
func benchPayload(i int) []byte {
	p := fmt.Sprintf(`{"id":"o-%06d","qty":%d,"price":%d.5,"ok":true,"user":{"name":"user-%d"},"at":"2024-05-01T10:00:00Z","day":"2024-05-01","note":"`, i, i, i, i)
	return []byte(p + strings.Repeat("x", 256-len(p)-2) + `"}`)
}

// benchRow is the baseline's row: the same columns written with
// parquet-go's generic writer.
type benchRow struct {
	ID          string    `parquet:"id"`
	Qty         *int64    `parquet:"qty,optional"`
	Price       *float64  `parquet:"price,optional"`
	OK          *bool     `parquet:"ok,optional"`
	UserName    *string   `parquet:"user_name,optional"`
	At          time.Time `parquet:"at,optional,timestamp(microsecond)"`
	Day         time.Time `parquet:"day,optional,date"`
	Note        *string   `parquet:"note,optional"`
	Topic       string    `parquet:"_danube_topic"`
	Partition   int32     `parquet:"_danube_partition"`
	Offset      int64     `parquet:"_danube_offset"`
	PublishTime time.Time `parquet:"_danube_publish_time,timestamp(microsecond)"`
	RecordID    *string   `parquet:"_danube_record_id,optional"`
}

// BenchmarkWrite measures rows/s of 256 B JSON records: Sink writes them
// through WriteBatch (JSON decoding, Parquet file, Delta commit with txn,
// checkpoints every 100 versions) into a local table, with default
// settings; ParquetBaseline writes the same rows, already as Go values,
// with parquet-go directly to a file in each iteration. Compare the
// rows/s of the two.
func BenchmarkWrite(b *testing.B) {
	recs := make([]connect.SinkRecord, benchBatch)
	for i := range recs {
		recs[i] = orderRec(uint64(i), string(benchPayload(i)))
	}
	b.Run("ParquetBaseline", func(b *testing.B) {
		b.ReportAllocs()
		dir := b.TempDir()
		rows := make([]benchRow, benchBatch)
		for i := range rows {
			q, p, ok, name, note, id := int64(i), float64(i)+0.5, true, fmt.Sprintf("user-%d", i), strings.Repeat("x", 100), fmt.Sprintf("src/p/%d", i)
			at, _ := time.Parse(time.RFC3339, "2024-05-01T10:00:00Z")
			rows[i] = benchRow{ID: fmt.Sprintf("o-%06d", i), Qty: &q, Price: &p, OK: &ok, UserName: &name, At: at, Day: at, Note: &note,
				Topic: ordersTopic, Partition: -1, Offset: int64(i), PublishTime: time.UnixMilli(int64(i)), RecordID: &id}
		}
		n := 0
		for b.Loop() {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f-%d.parquet", n)))
			if err != nil {
				b.Fatal(err)
			}
			w := parquet.NewGenericWriter[benchRow](f, parquet.Compression(&parquet.Snappy))
			if _, err := w.Write(rows); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			_ = f.Close()
			n++
		}
		b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("Sink", func(b *testing.B) {
		b.ReportAllocs()
		var cfg Config
		if err := config.ApplyDefaults(&cfg); err != nil {
			b.Fatal(err)
		}
		tc := tableConfig(ordersTopic, filepath.Join(b.TempDir(), "t"))
		tc.Fields = append(orderFields(), Field{Path: "note", Type: TypeString, Nullable: true})
		cfg.Tables = []Table{tc}
		s, err := openSink(b, cfg, ordersTopic)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for b.Loop() {
			for i := range recs {
				recs[i].Offset = uint64(n*benchBatch + i)
			}
			if err := s.WriteBatch(b.Context(), recs); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "rows/s")
	})
}
