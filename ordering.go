package connect

import "fmt"

// Ordering says which records of a source the runtime publishes one after
// the other, each once the broker confirmed the previous one, so that they
// are stored in the order Poll returned them (or Emit was called). Records
// of different ordering units are published concurrently.
//
// The order holds as long as publishes succeed within the client's retries:
// a publish that still fails is published again later by the runtime,
// after records of its unit that followed it.
//
// The default, OrderPerKey, orders what a consumer can tell apart: records
// of one routing key, which Key_Shared subscriptions and partitioned topics
// keep together. Records without a key are pipelined like OrderNone, so a
// keyless source (a generator, a webhook, a table without a key column)
// publishes as fast as the broker confirms instead of one record per round
// trip; a source whose keyless records must keep their upstream order sets
// OrderPerPartition. Publishing a unit's records one after the other costs
// one broker round trip per record of that unit (the protocol has no
// per-producer sequence that would let ordered sends be pipelined), so
// throughput grows with the number of distinct keys in flight.
type Ordering int

const (
	// OrderPerKey (the default) keeps the order of records with the same
	// routing key; records without a key are not ordered.
	OrderPerKey Ordering = iota
	// OrderPerPartition keeps the order of all the records of a source
	// partition, whatever their keys: the upstream order, at the cost of
	// publishing each partition's records one at a time. Records without
	// an offset are not ordered.
	OrderPerPartition
	// OrderNone pipelines every record: the fastest, and the broker may
	// store records in any order.
	OrderNone
)

// ParseOrdering parses "key", "partition" or "none".
func ParseOrdering(s string) (Ordering, error) {
	switch s {
	case "", "key":
		return OrderPerKey, nil
	case "partition":
		return OrderPerPartition, nil
	case "none":
		return OrderNone, nil
	}
	return 0, fmt.Errorf("ordering %q: want key, partition or none", s)
}

// String returns "key", "partition" or "none".
func (o Ordering) String() string {
	switch o {
	case OrderPerPartition:
		return "partition"
	case OrderNone:
		return "none"
	}
	return "key"
}

// orderKey is the ordering unit of rec ("" for none).
func (o Ordering) orderKey(rec *SourceRecord) string {
	switch o {
	case OrderPerPartition:
		return rec.Offset.Partition
	case OrderNone:
		return ""
	}
	return rec.Key
}
