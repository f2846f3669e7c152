package connect

import (
	"strconv"
	"time"

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

// dlqAttributes returns the attributes of the dead-letter copy of rec: the
// original attributes plus the x-original-*/x-failure-* set. It allocates a
// new map; rec.Attributes is not modified.
func dlqAttributes(rec *SinkRecord, subscription, connector string, class Class, cause error, now time.Time) map[string]string {
	m := make(map[string]string, len(rec.Attributes)+9)
	for k, v := range rec.Attributes {
		m[k] = v
	}
	m[AttrOriginalTopic] = rec.PartitionTopic
	m[AttrOriginalSubscription] = subscription
	m[AttrOriginalOffset] = strconv.FormatUint(rec.Offset, 10)
	if rec.Partition >= 0 {
		m[AttrOriginalPartition] = strconv.Itoa(rec.Partition)
	} else {
		delete(m, AttrOriginalPartition)
	}
	reason := "unknown error"
	if cause != nil {
		reason = cause.Error()
	}
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen] + "…"
	}
	m[AttrFailureReason] = reason
	m[AttrDeliveryAttempt] = strconv.Itoa(max(rec.Attempt, 1))
	m[AttrConnector] = connector
	m[AttrErrorClass] = class.String()
	m[AttrFailedAt] = now.UTC().Format(time.RFC3339)
	return m
}

// DefaultDLQTopic returns the dead-letter topic used when none is
// configured: the logical topic with "-dlq" appended ("/default/orders" →
// "/default/orders-dlq").
func DefaultDLQTopic(topic string) string {
	logical, _ := danube.SplitPartition(topic)
	return logical + "-dlq"
}
