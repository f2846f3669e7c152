package connect

import "testing"

// TestOrderingUnits: by default only records with a routing key are
// ordered; keyless records, whatever their source partition, are pipelined.
func TestOrderingUnits(t *testing.T) {
	keyed := &SourceRecord{Key: "user-1", Offset: SourceOffset{Partition: "p0", Position: "1"}}
	keyless := &SourceRecord{Offset: SourceOffset{Partition: "p0", Position: "2"}}
	tests := []struct {
		o        Ordering
		rec      *SourceRecord
		wantUnit string
	}{
		{OrderPerKey, keyed, "user-1"},
		{OrderPerKey, keyless, ""},
		{OrderPerPartition, keyed, "p0"},
		{OrderPerPartition, keyless, "p0"},
		{OrderNone, keyed, ""},
		{OrderNone, keyless, ""},
	}
	for _, tt := range tests {
		if got := tt.o.orderKey(tt.rec); got != tt.wantUnit {
			t.Errorf("%v: record key %q partition %q: unit %q, want %q", tt.o, tt.rec.Key, tt.rec.Offset.Partition, got, tt.wantUnit)
		}
	}
}
