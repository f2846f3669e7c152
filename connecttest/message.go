package connecttest

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
)

// Message is a message a test publishes with [SinkRun.Publish].
type Message struct {
	// Payload is the message body, published as is.
	Payload []byte
	// Value, when not nil, replaces Payload: it is encoded with the
	// harness's schema ([WithSchema]) or as JSON.
	Value any
	// Key is the routing key ("" for none).
	Key string
	// Attributes are the message attributes.
	Attributes map[string]string
}

// Received is a message as the broker stores it on a topic.
type Received struct {
	// Topic is the logical topic, without a "-part-N" suffix.
	Topic string
	// Partition is the partition index, -1 for a topic without partitions.
	Partition int
	// Offset is the broker offset within the partition.
	Offset uint64
	// Payload is the message body.
	Payload []byte
	// Key is the routing key, "" when none.
	Key string
	// Attributes are the message attributes (never nil).
	Attributes map[string]string
	// RecordID is the x-record-id attribute a source runtime sets from the
	// record's source offset ("" when absent).
	RecordID string
	// SchemaID and SchemaVersion name the registry schema the message
	// carries (0 when none).
	SchemaID      uint64
	SchemaVersion uint32
}

// DeadLetter is a message on a dead-letter topic, with the attributes the
// runtime added decoded.
type DeadLetter struct {
	// Received is the dead-letter copy: the original payload, key and
	// attributes plus the x-* attributes below.
	Received
	// OriginalTopic is x-original-topic: the (partition) topic of the
	// original record.
	OriginalTopic string
	// OriginalOffset is x-original-topic-offset: the broker offset of the
	// original message (sink runtime only; 0 when absent).
	OriginalOffset uint64
	// Class is x-error-class: "invalid_data" for a record the connector
	// rejected, "retryable" for one whose retries were exhausted.
	Class string
	// Reason is x-failure-reason: the error text.
	Reason string
	// Attempt is x-delivery-attempt: the delivery that failed (sink runtime
	// only; 0 when absent).
	Attempt int
}

func received(m devbroker.Message) Received {
	logical, part := danube.SplitPartition(m.Topic)
	return Received{
		Topic:         logical,
		Partition:     part,
		Offset:        m.Offset,
		Payload:       m.Payload,
		Key:           m.Key,
		Attributes:    m.Attributes,
		RecordID:      m.Attributes[connect.AttrRecordID],
		SchemaID:      m.SchemaID,
		SchemaVersion: m.SchemaVersion,
	}
}

func deadLetter(m devbroker.Message) DeadLetter {
	d := DeadLetter{
		Received:      received(m),
		OriginalTopic: m.Attributes[connect.AttrOriginalTopic],
		Class:         m.Attributes[connect.AttrErrorClass],
		Reason:        m.Attributes[connect.AttrFailureReason],
	}
	d.OriginalOffset, _ = strconv.ParseUint(m.Attributes[connect.AttrOriginalOffset], 10, 64)
	d.Attempt, _ = strconv.Atoi(m.Attributes[connect.AttrDeliveryAttempt])
	return d
}

// topicMessages returns the stored messages of topic, or of its
// partitions when it is partitioned (ordered by partition, then offset).
func topicMessages(b *devbroker.Broker, topic string) []Received {
	var out []Received
	for _, m := range b.Messages(topic) {
		out = append(out, received(m))
	}
	if out != nil {
		return out
	}
	prefix := topic + "-part-"
	for _, name := range b.Topics() {
		if logical, part := danube.SplitPartition(name); part >= 0 && logical == topic && strings.HasPrefix(name, prefix) {
			for _, m := range b.Messages(name) {
				out = append(out, received(m))
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Received) int { return cmp.Compare(a.Partition, b.Partition) })
	return out
}

// deadLetters returns the messages of dlq whose original (logical) topic
// is topic.
func deadLetters(b *devbroker.Broker, dlq, topic string) []DeadLetter {
	var out []DeadLetter
	for _, m := range b.Messages(dlq) {
		d := deadLetter(m)
		if logical, _ := danube.SplitPartition(d.OriginalTopic); logical == topic {
			out = append(out, d)
		}
	}
	return out
}
