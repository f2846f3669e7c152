package danube

import (
	"fmt"

	"github.com/danube-connect/connect/internal/wire/danubepb"
)

// ConsumerOption configures a [Consumer] created by [Client.NewConsumer].
type ConsumerOption func(*consumerConfig)

// SubscriptionType is how a subscription spreads messages over its
// consumers. It is fixed when the subscription is created; later consumers'
// types are ignored by the broker. The zero value is Shared, the default of
// the official clients.
type SubscriptionType int

const (
	// Shared delivers round-robin over the active consumers.
	Shared SubscriptionType = iota
	// Exclusive admits a single consumer name; others are rejected with
	// ErrPermissionDenied.
	Exclusive
	// Failover admits several consumers but delivers to the first one only
	// (Danube v0.15.1 never fails over).
	Failover
	// KeyShared delivers all messages of a routing key to one consumer,
	// chosen by consistent hashing among the consumers whose key filters
	// match.
	KeyShared
)

// String returns "shared", "exclusive", "failover" or "key_shared".
func (t SubscriptionType) String() string {
	switch t {
	case Shared:
		return "shared"
	case Exclusive:
		return "exclusive"
	case Failover:
		return "failover"
	case KeyShared:
		return "key_shared"
	}
	return fmt.Sprintf("SubscriptionType(%d)", int(t))
}

func (t SubscriptionType) wire() danubepb.ConsumerRequest_SubscriptionType {
	switch t {
	case Exclusive:
		return danubepb.ConsumerRequest_Exclusive
	case Failover:
		return danubepb.ConsumerRequest_Failover
	case KeyShared:
		return danubepb.ConsumerRequest_KeyShared
	}
	return danubepb.ConsumerRequest_Shared
}

// DefaultReceiveBuffer is the default capacity of a consumer's buffer of
// received messages (shared by all partitions).
const DefaultReceiveBuffer = 64

type consumerConfig struct {
	name       string
	subType    SubscriptionType
	keyFilters []string
	buffer     int
}

// WithConsumerName sets the consumer name (default: a generated unique name
// "go-consumer-<random suffix>"). The name identifies the consumer within the
// subscription: a consumer subscribing again with the same name takes over
// the previous one (and its unacknowledged messages).
func WithConsumerName(name string) ConsumerOption {
	return func(c *consumerConfig) { c.name = name }
}

// WithSubscriptionType sets the type used if the subscription is created
// (default Shared).
func WithSubscriptionType(t SubscriptionType) ConsumerOption {
	return func(c *consumerConfig) { c.subType = t }
}

// WithKeyFilters restricts a KeyShared consumer to routing keys matching one
// of the glob patterns ('*' any sequence, '?' one byte); default: all keys.
func WithKeyFilters(patterns ...string) ConsumerOption {
	return func(c *consumerConfig) { c.keyFilters = append([]string(nil), patterns...) }
}

// WithReceiveBuffer sets how many received messages may wait for Receive
// (default 64). When it is full the partition streams stop reading, and the
// broker's flow control holds further messages (non-reliable topics drop
// them, as the broker does for any slow consumer).
func WithReceiveBuffer(n int) ConsumerOption {
	return func(c *consumerConfig) { c.buffer = n }
}
