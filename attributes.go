package connect

import (
	"github.com/danube-connect/connect/danube"
)

// Attribute names set by the runtime. Every runtime attribute starts with
// "x-"; the dead-letter attributes shared with the broker's own dead-letter
// copies keep the broker's names, so one tool reads both kinds of DLQ.
const (
	// AttrRecordID is the deterministic id of a source record,
	// "connector/partition/position" (see [RecordID]).
	AttrRecordID = "x-record-id"
	// AttrTraceParent carries the W3C trace context of the publishing span.
	AttrTraceParent = "traceparent"
	// AttrTraceState carries the W3C trace state, when there is one.
	AttrTraceState = "tracestate"

	// AttrOriginalTopic is the full (partition) topic the record came from.
	AttrOriginalTopic = "x-original-topic"
	// AttrOriginalSubscription is the subscription that failed the record.
	AttrOriginalSubscription = "x-original-subscription"
	// AttrOriginalOffset is the record's broker offset in AttrOriginalTopic.
	AttrOriginalOffset = "x-original-topic-offset"
	// AttrFailureReason is the failure's error text.
	AttrFailureReason = "x-failure-reason"
	// AttrDeliveryAttempt is the delivery attempt that failed (decimal).
	AttrDeliveryAttempt = "x-delivery-attempt"
	// AttrOriginalPartition is the partition index of the original topic
	// (decimal; absent for non-partitioned topics).
	AttrOriginalPartition = "x-original-partition"
	// AttrConnector is the name of the connector that dead-lettered the
	// record.
	AttrConnector = "x-connector"
	// AttrErrorClass is the error class name ("invalid_data", "retryable",
	// "fatal").
	AttrErrorClass = "x-error-class"
	// AttrFailedAt is the time of the failure (RFC 3339, UTC).
	AttrFailedAt = "x-failed-at"
)

// maxReasonLen bounds x-failure-reason so a huge error text cannot blow up
// the dead-letter message.
const maxReasonLen = 1024

// sinkOrigin is where the sink record rec came from, for its dead-letter
// copy.
func sinkOrigin(rec *SinkRecord, subscription string) dlqOrigin {
	return dlqOrigin{topic: rec.PartitionTopic, partition: rec.Partition, subscription: subscription,
		offset: rec.Offset, hasOffset: true, attempt: max(rec.Attempt, 1)}
}

// DefaultDLQTopic returns the dead-letter topic used when none is
// configured: the logical topic with "-dlq" appended ("/default/orders" →
// "/default/orders-dlq").
func DefaultDLQTopic(topic string) string {
	logical, _ := danube.SplitPartition(topic)
	return logical + "-dlq"
}
