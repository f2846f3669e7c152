package danube

import "github.com/danube-connect/connect/internal/wire/danubepb"

// ProducerOption configures a [Producer] created by [Client.NewProducer].
type ProducerOption func(*producerConfig)

// DispatchStrategy is the delivery guarantee of a topic, fixed when the topic
// is created by its first producer. The zero value is NonReliable.
type DispatchStrategy int

const (
	// NonReliable topics are in-memory pass-through: at-most-once delivery,
	// only to subscriptions with an active consumer.
	NonReliable DispatchStrategy = iota
	// Reliable topics append to a write-ahead log: at-least-once delivery,
	// gated by acks, with broker-assigned offsets.
	Reliable
)

// String returns "non_reliable" or "reliable".
func (d DispatchStrategy) String() string {
	if d == Reliable {
		return "reliable"
	}
	return "non_reliable"
}

func (d DispatchStrategy) wire() danubepb.DispatchStrategy {
	if d == Reliable {
		return danubepb.DispatchStrategy_Reliable
	}
	return danubepb.DispatchStrategy_NonReliable
}

type producerConfig struct {
	name        string
	dispatch    DispatchStrategy
	partitions  int
	schema      *SchemaRef
	maxInFlight int
}

// WithProducerName sets the producer name (default: a generated unique name
// "go-producer-<random suffix>"). The name is unique per topic: a producer
// created again with the same name re-attaches to the same broker producer.
// Partition producers are named "{name}-{i}".
func WithProducerName(name string) ProducerOption {
	return func(c *producerConfig) { c.name = name }
}

// WithReliable is WithDispatch(Reliable).
func WithReliable() ProducerOption { return WithDispatch(Reliable) }

// WithDispatch sets the dispatch strategy requested for the topic (default
// NonReliable). It must match the strategy of an existing topic, else
// NewProducer fails with ErrFailedPrecondition.
func WithDispatch(d DispatchStrategy) ProducerOption {
	return func(c *producerConfig) { c.dispatch = d }
}

// WithPartitions makes the producer write to a partitioned topic of n
// partitions "{topic}-part-0" … "{topic}-part-{n-1}" (default 0: a
// non-partitioned topic). Unkeyed messages go round-robin starting at
// partition 0; keyed messages go to partition FNV-1a-64(key) mod n.
func WithPartitions(n int) ProducerOption {
	return func(c *producerConfig) { c.partitions = n }
}

// WithSchema binds the producer to a schema-registry subject (default: no
// schema). The version is resolved once at creation (see
// [SchemaRegistry.Resolve]) and its id and version are attached to every
// message.
func WithSchema(ref SchemaRef) ProducerOption {
	return func(c *producerConfig) { r := ref; c.schema = &r }
}

// WithMaxInFlight bounds the sends awaiting broker confirmation (default 1).
// With 1, sends are issued one after the other and per-producer order is
// strict, as with the official clients; with more, SendAsync pipelines sends
// and order across concurrent sends is not guaranteed (see [Producer]).
func WithMaxInFlight(n int) ProducerOption {
	return func(c *producerConfig) { c.maxInFlight = n }
}
