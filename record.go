package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/schema"
)

// SchemaInfo describes the registry schema a record was produced with. The
// runtime fills ID and Version from the message; a topic Decoder fills
// Subject and Type. Zero values mean "unknown" (no schema).
type SchemaInfo struct {
	ID      uint64 // registry schema id (identifies a subject)
	Version uint32 // registry version
	Subject string // registry subject
	Type    string // "json_schema", "avro", "string", "number", "bytes", …
}

// SinkRecord is one message delivered to a [Sink]. The runtime builds it
// from a broker message; connector code reads it. Payload and Attributes
// belong to the runtime and must not be modified or kept after the call
// returns (copy what you need); the record itself is a value and may be
// copied freely.
type SinkRecord struct {
	// Topic is the logical topic, e.g. "/default/orders", without the
	// "-part-N" suffix of a partitioned topic.
	Topic string
	// Partition is the partition index parsed from the "-part-N" suffix, or
	// -1 for a non-partitioned topic.
	Partition int
	// PartitionTopic is the full topic name as delivered by the broker
	// ("/default/orders-part-2"); equal to Topic when not partitioned.
	PartitionTopic string
	// Offset is the broker offset within PartitionTopic (unique for
	// reliable topics).
	Offset uint64
	// Payload is the message body as published.
	Payload []byte
	// Attributes are the message attributes (may be nil; read them with
	// Attribute).
	Attributes map[string]string
	// Key is the routing key, "" when none was set.
	Key string
	// PublishTime is the producer's publish time.
	PublishTime time.Time
	// ProducerName is the name of the producer that published the message.
	ProducerName string
	// Schema is the registry schema of the message, if any.
	Schema SchemaInfo
	// Value is the payload decoded by the topic's Decoder; nil when the topic
	// has none.
	Value any
	// Attempt is the delivery attempt as far as the runtime knows: 1 for a
	// first delivery, more after nacks observed by this process, or the
	// broker's x-delivery-attempt attribute when present.
	Attempt int

	// resolver is the registry resolver that decoded the record (set by
	// SchemaDecoder), used by Decode.
	resolver *schema.Resolver
}

// Text returns the payload as a string (no copy; the string must not
// outlive the call that received the record).
func (r SinkRecord) Text() string {
	return unsafe.String(unsafe.SliceData(r.Payload), len(r.Payload))
}

// Attribute returns the value of attribute name, "" when absent.
func (r SinkRecord) Attribute(name string) string { return r.Attributes[name] }

// RecordID returns an id of the record that stays the same across
// redeliveries, for sinks that write idempotently (upsert by id): the
// x-record-id attribute set by source runtimes (see [RecordID]) when
// present, else an id derived from where the broker stored the message,
// "{PartitionTopic}#{Offset}" (e.g. "/default/orders-part-1#42"), so that
// messages of producers that set no id still get distinct ones. The derived
// id is unique as long as the topic is not deleted and re-created (offsets
// would start again at 0).
func (r SinkRecord) RecordID() string {
	if id := r.Attributes[AttrRecordID]; id != "" {
		return id
	}
	topic := r.PartitionTopic
	if topic == "" {
		topic = r.Topic
	}
	return topic + "#" + strconv.FormatUint(r.Offset, 10)
}

// JSON decodes the payload of rec as JSON into a T. A decoding failure is an
// [InvalidData] error, so returning it from Write dead-letters the record.
func JSON[T any](rec SinkRecord) (T, error) {
	var v T
	if err := json.Unmarshal(rec.Payload, &v); err != nil {
		return v, InvalidData(fmt.Errorf("decode JSON payload of %s offset %d: %w", rec.PartitionTopic, rec.Offset, err))
	}
	return v, nil
}

// Decode decodes the payload of rec into a T. When the topic decodes
// through the schema registry (SinkTopic.SchemaSubject or DecodeSchema, or
// a [SchemaDecoder]) and the record carries a schema id, it decodes with
// the record's schema version (schema.Resolver.DecodeInto): json_schema
// payloads with encoding/json, avro payloads into a struct with avro tags
// (or a map), string, number and bytes into matching Go types. Otherwise it
// decodes the payload as JSON, like [JSON].
//
// A payload that does not match its schema or cannot be represented as a
// T is an [InvalidData] error (returned from Write it dead-letters the
// record); a registry failure is [Retryable]. The schema was looked up when
// the record was decoded, so Decode normally makes no registry call.
//
//	type Reading struct {
//		Sensor string  `avro:"sensor" json:"sensor"`
//		Value  float64 `avro:"value" json:"value"`
//	}
//
//	sink := connect.SinkFunc(func(ctx context.Context, rec connect.SinkRecord) error {
//		r, err := connect.Decode[Reading](ctx, rec)
//		if err != nil {
//			return err
//		}
//		return store(ctx, r)
//	})
func Decode[T any](ctx context.Context, rec SinkRecord) (T, error) {
	if rec.resolver == nil || rec.Schema.ID == 0 {
		return JSON[T](rec)
	}
	var v T
	err := rec.resolver.DecodeInto(ctx, rec.Schema.ID, rec.Schema.Version, rec.Payload, &v)
	if err == nil {
		return v, nil
	}
	err = fmt.Errorf("decode %s offset %d into %T: %w", rec.PartitionTopic, rec.Offset, v, err)
	var de *danube.Error
	if !errors.Is(err, schema.ErrInvalidPayload) &&
		(errors.As(err, &de) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return v, Retryable(err)
	}
	return v, InvalidData(err)
}

// SourceOffset is the position of a record in the external system. The
// runtime commits it (to the OffsetStore and the source's Committer) once
// this record and every record emitted before it on the same Partition have
// been confirmed by the broker.
type SourceOffset struct {
	// Partition names an independently ordered stream of the source (a file,
	// a table, a shard); "" is a valid name.
	Partition string
	// Position is the opaque position of the record within Partition, as
	// the source will want it back in Open after a restart.
	Position string
}

// IsZero reports whether o carries no offset.
func (o SourceOffset) IsZero() bool { return o.Partition == "" && o.Position == "" }

// SourceRecord is one record produced by a [Source]. Build it with
// [NewRecord], [NewTextRecord], [NewJSONRecord], [NewNumberRecord] or
// [NewValueRecord] and refine it with the With methods; each method returns
// a modified copy.
type SourceRecord struct {
	// Topic is the destination topic; "" means the first configured topic.
	Topic string
	// Payload is the message body. Ignored when Value is set.
	Payload []byte
	// Value, when not nil, is encoded by the topic's Encoder, or as JSON when
	// the topic has none.
	Value any
	// Attributes are added to the message; names starting with "x-" are
	// reserved for the runtime and the broker.
	Attributes map[string]string
	// Key is the routing key: it selects the partition and the KeyShared
	// consumer.
	Key string
	// Offset is the record's position in the external system; zero when the
	// source has none (then nothing is committed and no x-record-id is set).
	Offset SourceOffset
}

// NewRecord returns a record with a raw payload.
func NewRecord(topic string, payload []byte) SourceRecord {
	return SourceRecord{Topic: topic, Payload: payload}
}

// NewTextRecord returns a record whose payload is s.
func NewTextRecord(topic, s string) SourceRecord {
	return SourceRecord{Topic: topic, Payload: []byte(s)}
}

// NewJSONRecord returns a record whose payload is v encoded as JSON. An
// encoding failure is an [InvalidData] error.
func NewJSONRecord(topic string, v any) (SourceRecord, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return SourceRecord{}, InvalidData(fmt.Errorf("encode JSON record for %s: %w", topic, err))
	}
	return SourceRecord{Topic: topic, Payload: b}, nil
}

// Number is the set of types [NewNumberRecord] accepts.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// NewNumberRecord returns a record whose payload is n in decimal text (also
// valid JSON), e.g. "42" or "3.5".
func NewNumberRecord[N Number](topic string, n N) SourceRecord {
	var b []byte
	half := N(1)
	half /= 2
	switch {
	case half != 0: // floating point
		bits := 64
		if unsafe.Sizeof(n) == 4 {
			bits = 32
		}
		b = strconv.AppendFloat(nil, float64(n), 'g', -1, bits)
	case N(0)-1 > 0: // unsigned
		b = strconv.AppendUint(nil, uint64(n), 10)
	default:
		b = strconv.AppendInt(nil, int64(n), 10)
	}
	return SourceRecord{Topic: topic, Payload: b}
}

// NewValueRecord returns a record carrying a Go value, encoded at publish
// time by the topic's Encoder (schema-aware) or as JSON when it has none.
func NewValueRecord(topic string, v any) SourceRecord {
	return SourceRecord{Topic: topic, Value: v}
}

// WithAttribute returns a copy of r with attribute name set to value. The
// attribute map is copied on first use, so records sharing a map stay
// independent.
func (r SourceRecord) WithAttribute(name, value string) SourceRecord {
	m := make(map[string]string, len(r.Attributes)+1)
	for k, v := range r.Attributes {
		m[k] = v
	}
	m[name] = value
	r.Attributes = m
	return r
}

// WithKey returns a copy of r with routing key k.
func (r SourceRecord) WithKey(k string) SourceRecord { r.Key = k; return r }

// WithOffset returns a copy of r with source offset (partition, position).
func (r SourceRecord) WithOffset(partition, position string) SourceRecord {
	r.Offset = SourceOffset{Partition: partition, Position: position}
	return r
}

// RecordID returns the deterministic record id the runtime attaches as the
// x-record-id attribute: "connector/partition/position" with each part
// escaped (%2F for '/', %25 for '%'). It is "" when off is zero.
func RecordID(connector string, off SourceOffset) string {
	if off.IsZero() {
		return ""
	}
	return escapeID(connector) + "/" + escapeID(off.Partition) + "/" + escapeID(off.Position)
}

func escapeID(s string) string {
	if !strings.ContainsAny(s, "/%") {
		return s
	}
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(s)
}
