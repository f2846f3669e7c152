package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/postgres"
	"github.com/danube-connect/connect/internal/pgtest"
)

func recsAt(topic string, offs ...uint64) []connect.SinkRecord {
	out := make([]connect.SinkRecord, len(offs))
	for i, o := range offs {
		out[i] = connect.SinkRecord{Topic: "/default/eo", PartitionTopic: topic, Offset: o, Payload: fmt.Appendf(nil, `{"id":%d}`, o)}
	}
	return out
}

// TestExactlyOnceOutOfOrder writes batches whose offsets arrive out of
// order, redelivers some of them, and races two writers of the same
// offsets: every offset is written once, and the state holds the written
// offsets as merged ranges.
func TestExactlyOnceOutOfOrder(t *testing.T) {
	d := newDB(t, pgtest.Start(t, pgtest.Options{}))
	d.exec(t, "CREATE TABLE eo (id bigint NOT NULL, part text)")
	// The sink asks for READ COMMITTED whatever the default: its state
	// checks must see what a concurrent writer committed while it waited
	// for the partition's lock.
	d.exec(t, "ALTER DATABASE "+d.name+" SET default_transaction_isolation = 'serializable'")
	cfg := d.cfg(postgres.Table{Table: "eo", Columns: map[string]string{"id": "id", "part": "@topic"}})
	ctx := context.Background()
	open := func() *postgres.Sink {
		s := postgres.New(cfg)
		if err := s.Open(ctx, connect.SinkEnv{Name: "sub-a", Topics: []string{"/default/eo"}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(ctx) })
		return s
	}
	s := open()
	p0, p1 := "/default/eo-part-0", "/default/eo-part-1"
	for _, batch := range [][]connect.SinkRecord{
		recsAt(p0, 5, 6, 7),
		recsAt(p0, 0, 2, 1),
		recsAt(p0, 1, 6, 9), // 1 and 6 are redeliveries
		recsAt(p1, 6, 7),    // another partition: same offsets, new records
	} {
		if err := s.WriteBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	// A restarted sink, and two writers racing on the same offsets.
	s2 := open()
	var wg sync.WaitGroup
	for _, w := range []*postgres.Sink{s, s2} {
		wg.Go(func() {
			if err := w.WriteBatch(ctx, recsAt(p0, 3, 4, 7, 8, 10)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Partition 0 has offsets 0..10, partition 1 offsets 6 and 7.
	if rows := d.count(t, "SELECT count(*) FROM eo"); rows != 13 {
		t.Fatalf("%d rows, want 13: %v", rows, d.strings(t, "SELECT string_agg(id::text, ',' ORDER BY id) FROM eo"))
	}
	spans := d.strings(t, "SELECT subscription || ' ' || topic || ' ' || first_offset || '-' || last_offset FROM danube_connect_offsets ORDER BY topic, first_offset")
	if want := []string{"sub-a " + p0 + " 0-10", "sub-a " + p1 + " 6-7"}; !slices.Equal(spans, want) {
		t.Fatalf("state %v, want %v", spans, want)
	}
	// Another subscription is another reader: it writes its own rows.
	other := postgres.New(cfg, postgres.WithSubscriptions(map[string]string{"/default/eo": "sub-b"}))
	if err := other.Open(ctx, connect.SinkEnv{Name: "sub-a"}); err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if err := other.WriteBatch(ctx, recsAt(p0, 0)); err != nil {
		t.Fatal(err)
	}
	if rows := d.count(t, "SELECT count(*) FROM eo"); rows != 14 {
		t.Fatalf("%d rows after another subscription wrote offset 0, want 14", rows)
	}
}
