package connect

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/topicname"
	"github.com/danube-connect/connect/schema"
)

// Defaults of the runtime configuration; a zero field takes its default.
const (
	DefaultMaxInFlight           = 1000
	DefaultDrainTimeout          = 30 * time.Second
	DefaultBatchMaxRecords       = 1000
	DefaultBatchMaxBytes         = 1 << 20
	DefaultBatchMaxWait          = time.Second
	DefaultBreakerThreshold      = 5
	DefaultBreakerCooldown       = 30 * time.Second
	DefaultNackDelay             = time.Second
	DefaultMaxRedeliveries       = 3
	DefaultPollInterval          = 100 * time.Millisecond
	DefaultCommitInterval        = time.Second
	DefaultSourceMaxInFlight     = 1000
	DefaultOffsetDir             = "offsets"
	defaultMaxParallelism        = 1024
	defaultMaxInFlightUpperBound = 1 << 20
)

// BreakerPolicy configures the circuit breakers guarding the external
// system, one per topic, so that a topic whose writes keep failing pauses
// only its own consumption. Zero fields take their defaults.
type BreakerPolicy struct {
	// FailureThreshold is the number of consecutive failed calls that opens
	// the breaker (default 5). A negative value disables the breaker.
	FailureThreshold int
	// Cooldown is how long the breaker stays open before a half-open probe
	// (default 30s).
	Cooldown time.Duration
}

// BatchPolicy bounds the batches handed to a BatchSink. A batch is written
// when it holds MaxRecords records or MaxBytes payload bytes, MaxWait after
// its first record arrived, or as soon as the stream has nothing more to
// give: the topic holds as many unresolved records as the broker lets it
// have (its window of unacked messages, learned as the most records ever
// held at once, or MaxInFlight), or no record arrived for 2 ms. So a
// default Danube broker's window of 10 is drained at once instead of
// waiting MaxWait for a batch that cannot fill; the bounds are upper
// bounds. Sinks without WriteBatch get whatever is already queued, up to
// MaxRecords, without waiting. Zero fields take their defaults.
type BatchPolicy struct {
	MaxRecords int           // default 1000
	MaxBytes   int           // default 1 MiB
	MaxWait    time.Duration // default 1s
}

// Exhausted is what the sink runtime does with a record whose retries are
// exhausted.
type Exhausted uint8

// Exhausted policies. The zero value is ExhaustedNack.
const (
	// ExhaustedNack nacks the record with SinkTopic.NackDelay so that the
	// broker redelivers it later; after SinkTopic.MaxRedeliveries
	// redeliveries seen by this runtime it is dead-lettered instead.
	ExhaustedNack Exhausted = iota
	// ExhaustedDeadLetter dead-letters the record at once.
	ExhaustedDeadLetter
)

// String returns "nack" or "dead_letter".
func (e Exhausted) String() string {
	switch e {
	case ExhaustedNack:
		return "nack"
	case ExhaustedDeadLetter:
		return "dead_letter"
	}
	return fmt.Sprintf("exhausted(%d)", uint8(e))
}

// ParseExhausted parses "nack" or "dead_letter" (as written in
// configuration files); "" yields ExhaustedNack.
func ParseExhausted(s string) (Exhausted, error) {
	switch s {
	case "", "nack":
		return ExhaustedNack, nil
	case "dead_letter":
		return ExhaustedDeadLetter, nil
	}
	return 0, Configuration(fmt.Errorf("on_exhausted %q: want nack or dead_letter", s))
}

// SinkTopic is one topic a sink consumes.
type SinkTopic struct {
	// Topic is the topic name, "/namespace/topic" (required). Partitioned
	// topics are consumed over all partitions.
	Topic string
	// Subscription is the subscription name (default: the connector name).
	Subscription string
	// SubscriptionType is the subscription type (default danube.Shared, the
	// client's default).
	SubscriptionType danube.SubscriptionType
	// SchemaSubject, when set, is the schema subject the topic's records are
	// expected to carry: the runtime decodes every record with the schema
	// registry (SinkRecord.Value, SinkRecord.Schema) and dead-letters records
	// of another subject or that do not match their schema.
	SchemaSubject string
	// DecodeSchema decodes records with the registry like SchemaSubject does,
	// without checking the subject.
	DecodeSchema bool
	// NumberFormat is how number payloads are read when the topic is
	// decoded with the registry (default schema.NumberInt64).
	NumberFormat schema.NumberFormat
	// Decoder, when set, replaces the registry decoding (nil and no
	// SchemaSubject or DecodeSchema: payloads pass through untouched).
	Decoder Decoder
	// DLQTopic is the dead-letter topic (default "{Topic}-dlq").
	DLQTopic string
	// OnExhausted says what happens when retries are exhausted (default
	// ExhaustedNack).
	OnExhausted Exhausted
	// NackDelay is the redelivery delay requested on nack (default 1s; the
	// broker may lengthen it).
	NackDelay time.Duration
	// MaxRedeliveries is the number of nack redeliveries seen by this
	// runtime after which an exhausted record is dead-lettered instead of
	// nacked (default 3, below the broker's default redelivery limit of 5
	// after which it would block the subscription). Negative: never
	// dead-letter on exhaustion, always nack.
	MaxRedeliveries int
}

// SinkConfig configures a [SinkRuntime]. Zero fields take their defaults;
// NewSinkRuntime validates it and reports every problem at once as a
// Configuration error naming the fields.
type SinkConfig struct {
	// Name is the connector name (required): consumer name, default
	// subscription, DLQ producer name prefix and metrics label.
	Name string
	// ServiceURL is the broker address, e.g. "http://127.0.0.1:6650";
	// required unless Client is set.
	ServiceURL string
	// ClientOptions are passed to danube.NewClient when the runtime creates
	// its own client.
	ClientOptions []danube.ClientOption
	// Client is an existing client to use instead of creating one; the
	// runtime does not close it.
	Client *danube.Client
	// Topics are the topics to consume (at least one).
	Topics []SinkTopic
	// Retry is the retry policy of Retryable write failures.
	Retry RetryPolicy
	// Breaker guards the external system.
	Breaker BreakerPolicy
	// Batch bounds batches.
	Batch BatchPolicy
	// MaxInFlight bounds the records received and not yet acked, nacked or
	// dead-lettered, per topic partition (default 1000).
	MaxInFlight int
	// Parallelism is the number of workers per topic partition (default 1).
	// Records are routed to a worker by a hash of their routing key, so the
	// order of records with the same key is kept; records without a key are
	// spread round-robin and lose their relative order.
	Parallelism int
	// DrainTimeout bounds the graceful drain at shutdown (default 30s): the
	// current batches get this long to finish and be acked.
	DrainTimeout time.Duration
}

// SourceTopic is one topic a source publishes to.
type SourceTopic struct {
	// Topic is the topic name, "/namespace/topic" (required).
	Topic string
	// Partitions is the number of partitions to create the topic with
	// (0: not partitioned).
	Partitions int
	// NonReliable opts in to non-reliable dispatch (at-most-once, no broker
	// persistence). The default is reliable dispatch.
	NonReliable bool
	// Schema, when set, is the topic's schema: at start the runtime builds a
	// codec from it (schema.NewCodec on the client's registry, registering
	// it if Schema.AutoRegister) and stamps the schema on every message. It
	// encodes SourceRecord.Value with the codec, and checks a record that
	// carries only a raw Payload with the codec (Codec.Validate: the payload
	// must decode, and a json_schema payload must match the schema). A
	// record that cannot be encoded, or a payload that does not match, is
	// dead-lettered as InvalidData instead of published. Spec.Topic
	// defaults to Topic.
	Schema *schema.Spec
	// Encoder, when set, replaces the codec built from Schema (nil and no
	// Schema: Value is encoded as JSON, Payload is sent as is). Raw payloads
	// are checked only when the Encoder implements [PayloadValidator].
	Encoder Encoder
	// DLQTopic receives records that cannot be encoded or whose payload
	// does not match the topic's schema (default "{Topic}-dlq").
	DLQTopic string
}

// SourceConfig configures a [SourceRuntime]. Zero fields take their
// defaults; NewSourceRuntime validates it.
type SourceConfig struct {
	// Name is the connector name (required): producer name, record id
	// prefix, offset file name and metrics label.
	Name string
	// ServiceURL is the broker address; required unless Client is set.
	ServiceURL string
	// ClientOptions are passed to danube.NewClient.
	ClientOptions []danube.ClientOption
	// Client is an existing client; the runtime does not close it.
	Client *danube.Client
	// Topics are the destination topics (at least one). Records whose Topic
	// is empty go to the first; records naming an unconfigured topic get a
	// reliable producer with default settings.
	Topics []SourceTopic
	// Retry is the retry policy of failed publishes and Retryable Poll
	// errors; when exhausted the runtime stops with a Fatal error (nothing
	// unconfirmed is committed, so a restart resumes without loss).
	Retry RetryPolicy
	// MaxInFlight bounds records published and not yet confirmed (default
	// 1000); Poll and Emit wait when it is reached.
	MaxInFlight int
	// Ordering says which records keep their relative order on the broker
	// while up to MaxInFlight publishes are pipelined (default
	// [OrderPerKey]).
	Ordering Ordering
	// PollInterval is the pause after a Poll that returned no records
	// (default 100ms).
	PollInterval time.Duration
	// CommitInterval is the minimum time between two offset commits
	// (default 1s); the final commit at shutdown is always made.
	CommitInterval time.Duration
	// DrainTimeout bounds the wait for outstanding confirmations at
	// shutdown (default 30s).
	DrainTimeout time.Duration
	// OffsetStore persists committed offsets (default: a FileOffsetStore in
	// OffsetDir).
	OffsetStore OffsetStore
	// OffsetDir is the directory of the default file offset store (default
	// "offsets", relative to the working directory).
	OffsetDir string
}

// Encoder is the schema seam of the source side: it encodes record values
// for one topic (schema.Codec implements it). Encode is called concurrently.
// An Encoder that also implements [PayloadValidator] checks the records
// that carry a raw Payload instead of a Value.
type Encoder interface {
	Encode(v any) ([]byte, error)
	SchemaRef() danube.SchemaRef
}

// PayloadValidator is an optional interface of an [Encoder] (schema.Codec
// implements it): Validate reports whether payload, published as is, is a
// valid message of the encoder's schema. The source runtime calls it for
// every record without a Value (concurrently) and dead-letters the record
// as InvalidData when it fails, as it does when Encode fails.
type PayloadValidator interface {
	Validate(payload []byte) error
}

func validTopic(t string) bool { return topicname.Valid(t) }

func (c *SinkConfig) applyDefaults() {
	for i := range c.Topics {
		t := &c.Topics[i]
		if t.Subscription == "" {
			t.Subscription = c.Name
		}
		if t.DLQTopic == "" {
			t.DLQTopic = DefaultDLQTopic(t.Topic)
		}
		if t.NackDelay == 0 {
			t.NackDelay = DefaultNackDelay
		}
		if t.MaxRedeliveries == 0 {
			t.MaxRedeliveries = DefaultMaxRedeliveries
		}
	}
	c.Retry = retryWithDefaults(c.Retry)
	if c.Breaker.FailureThreshold == 0 {
		c.Breaker.FailureThreshold = DefaultBreakerThreshold
	}
	if c.Breaker.Cooldown == 0 {
		c.Breaker.Cooldown = DefaultBreakerCooldown
	}
	if c.Batch.MaxRecords == 0 {
		c.Batch.MaxRecords = DefaultBatchMaxRecords
	}
	if c.Batch.MaxBytes == 0 {
		c.Batch.MaxBytes = DefaultBatchMaxBytes
	}
	if c.Batch.MaxWait == 0 {
		c.Batch.MaxWait = DefaultBatchMaxWait
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Parallelism == 0 {
		c.Parallelism = 1
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
}

// connectorProblems checks the settings sink and source configs share: the
// name, the broker (service_url, unless a client is supplied) and the
// topics, which must be at least one, each /namespace/topic and listed
// once. A sink may list a topic once per subscription: subs, nil for a
// source, holds the subscription of each topic.
func connectorProblems(name, serviceURL string, client *danube.Client, topics, subs []string) []error {
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if client == nil && serviceURL == "" {
		errs = append(errs, errors.New("service_url: required"))
	}
	if len(topics) == 0 {
		errs = append(errs, errors.New("topics: at least one topic is required"))
	}
	seen := map[[2]string]bool{}
	for i, t := range topics {
		key := [2]string{t}
		if subs != nil {
			key[1] = subs[i]
		}
		if !validTopic(t) {
			errs = append(errs, fmt.Errorf("topics[%d].topic = %q: want /namespace/topic", i, t))
		}
		switch {
		case !seen[key]:
			seen[key] = true
		case subs != nil:
			errs = append(errs, fmt.Errorf("topics[%d].topic = %q: listed twice with subscription %q", i, t, key[1]))
		default:
			errs = append(errs, fmt.Errorf("topics[%d].topic = %q: listed twice", i, t))
		}
	}
	return errs
}

func (c *SinkConfig) validate() error {
	names, subs := make([]string, len(c.Topics)), make([]string, len(c.Topics))
	for i, t := range c.Topics {
		names[i], subs[i] = t.Topic, cmp.Or(t.Subscription, c.Name)
	}
	errs := connectorProblems(c.Name, c.ServiceURL, c.Client, names, subs)
	for i, t := range c.Topics {
		p := fmt.Sprintf("topics[%d]", i)
		if t.DLQTopic != "" && !validTopic(t.DLQTopic) {
			errs = append(errs, fmt.Errorf("%s.dlq_topic = %q: want /namespace/topic", p, t.DLQTopic))
		}
		if t.DLQTopic != "" && t.DLQTopic == t.Topic {
			errs = append(errs, fmt.Errorf("%s.dlq_topic = %q: must differ from the topic", p, t.DLQTopic))
		}
		if t.OnExhausted > ExhaustedDeadLetter {
			errs = append(errs, fmt.Errorf("%s.on_exhausted = %d: unknown policy", p, t.OnExhausted))
		}
		if t.NackDelay < 0 {
			errs = append(errs, fmt.Errorf("%s.nack_delay = %v: must not be negative", p, t.NackDelay))
		}
	}
	if err := validateRetry(c.Retry, "retry"); err != nil {
		errs = append(errs, err)
	}
	if c.Breaker.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("breaker.cooldown = %v: must not be negative", c.Breaker.Cooldown))
	}
	if c.Batch.MaxRecords < 0 || c.Batch.MaxBytes < 0 || c.Batch.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("batch = %+v: bounds must not be negative", c.Batch))
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > defaultMaxInFlightUpperBound {
		errs = append(errs, fmt.Errorf("max_in_flight = %d: want 1..%d", c.MaxInFlight, defaultMaxInFlightUpperBound))
	}
	if c.Parallelism < 0 || c.Parallelism > defaultMaxParallelism {
		errs = append(errs, fmt.Errorf("parallelism = %d: want 1..%d", c.Parallelism, defaultMaxParallelism))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("drain_timeout = %v: must not be negative", c.DrainTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return Configuration(fmt.Errorf("sink connector %q: %w", c.Name, err))
	}
	return nil
}

func (c *SourceConfig) applyDefaults() {
	for i := range c.Topics {
		if c.Topics[i].DLQTopic == "" {
			c.Topics[i].DLQTopic = DefaultDLQTopic(c.Topics[i].Topic)
		}
	}
	c.Retry = retryWithDefaults(c.Retry)
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultSourceMaxInFlight
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.OffsetDir == "" {
		c.OffsetDir = DefaultOffsetDir
	}
}

func (c *SourceConfig) validate() error {
	names := make([]string, len(c.Topics))
	for i, t := range c.Topics {
		names[i] = t.Topic
	}
	errs := connectorProblems(c.Name, c.ServiceURL, c.Client, names, nil)
	for i, t := range c.Topics {
		p := fmt.Sprintf("topics[%d]", i)
		if t.Partitions < 0 {
			errs = append(errs, fmt.Errorf("%s.partitions = %d: must not be negative", p, t.Partitions))
		}
		if t.DLQTopic != "" && (!validTopic(t.DLQTopic) || t.DLQTopic == t.Topic) {
			errs = append(errs, fmt.Errorf("%s.dlq_topic = %q: want another /namespace/topic", p, t.DLQTopic))
		}
	}
	if err := validateRetry(c.Retry, "retry"); err != nil {
		errs = append(errs, err)
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > defaultMaxInFlightUpperBound {
		errs = append(errs, fmt.Errorf("max_in_flight = %d: want 1..%d", c.MaxInFlight, defaultMaxInFlightUpperBound))
	}
	if c.Ordering < OrderPerKey || c.Ordering > OrderNone {
		errs = append(errs, fmt.Errorf("ordering = %d: want OrderPerKey, OrderPerPartition or OrderNone", c.Ordering))
	}
	for name, d := range map[string]time.Duration{"poll_interval": c.PollInterval, "commit_interval": c.CommitInterval, "drain_timeout": c.DrainTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s = %v: must not be negative", name, d))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Configuration(fmt.Errorf("source connector %q: %w", c.Name, err))
	}
	return nil
}
