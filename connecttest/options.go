package connecttest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/schema"
)

// DefaultTopic is the topic a harness uses unless [WithTopic] names another.
const DefaultTopic = "/default/connecttest"

// Connector names the harnesses give their runtimes (see
// [WithSinkConfig] and [WithSourceConfig] to change them). The source name
// is the first part of every x-record-id the source runtime sets.
const (
	SinkName   = "connecttest-sink"
	SourceName = "connecttest-source"
)

// Option configures [RunSink], [RunSource] and [SinkConformance].
type Option func(*options)

type options struct {
	broker      *devbroker.Broker
	topic       string
	batch       *connect.BatchPolicy
	retry       *connect.RetryPolicy
	parallelism int
	subType     *danube.SubscriptionType
	schema      *schema.Spec
	timeout     time.Duration
	logger      *slog.Logger
	sinkCfg     []func(*connect.SinkConfig)
	sourceCfg   []func(*connect.SourceConfig)

	// SinkConformance only.
	messages func(i int) Message
	poison   *Message
	readBack func(t testing.TB, sink connect.Sink) [][]byte
}

func buildOptions(opts []Option) options {
	o := options{topic: DefaultTopic}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// harnessOptions are the options of a harness: defaults resolved, with a
// logger on t and a broker of its own unless given.
func harnessOptions(t testing.TB, opts []Option) options {
	o := buildOptions(opts)
	if o.logger == nil {
		o.logger = testLogger(t)
	}
	if o.broker == nil {
		o.broker = StartBroker(t)
	}
	return o
}

// WithBroker runs against b instead of a broker of the harness's own (see
// [StartBroker]); use it to share one broker between harnesses, e.g. a
// source feeding a sink.
func WithBroker(b *devbroker.Broker) Option { return func(o *options) { o.broker = b } }

// WithTopic sets the harness topic (default [DefaultTopic]): the topic the
// sink consumes and [SinkRun.Publish] publishes to, or the topic the source
// publishes to.
func WithTopic(topic string) Option { return func(o *options) { o.topic = topic } }

// WithBatch sets the sink runtime's batch policy (default: up to 100
// records, flushed 5ms after the first one).
func WithBatch(p connect.BatchPolicy) Option { return func(o *options) { o.batch = &p } }

// WithRetry sets the runtime's retry policy (default: 3 retries, 1ms
// initial backoff, at most 10ms).
func WithRetry(p connect.RetryPolicy) Option { return func(o *options) { o.retry = &p } }

// WithParallelism sets the sink runtime's workers per partition (default 1).
func WithParallelism(n int) Option { return func(o *options) { o.parallelism = n } }

// WithSubscriptionType sets the sink's subscription type (default
// danube.Shared).
func WithSubscriptionType(t danube.SubscriptionType) Option {
	return func(o *options) { o.subType = &t }
}

// WithSchema gives the topic a registry schema, registered at start
// (AutoRegister is implied; Spec.Topic defaults to the harness topic). A
// sink harness publishes with it (a [Message] Value is encoded with it) and
// sets SinkTopic.SchemaSubject, so the sink receives decoded records; a
// source harness sets SourceTopic.Schema.
func WithSchema(spec schema.Spec) Option { return func(o *options) { o.schema = &spec } }

// WithTimeout bounds every wait of the harness: subscribing, publishing,
// waiting for records and stopping. The default is 30s, shortened to fit
// the test's deadline (go test -timeout) when the test has one.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLogger sets the runtime's logger. By default warnings and errors of
// the runtime go to t.Log, which go test shows for failed tests and with -v.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithSinkConfig edits the sink runtime's configuration after the harness
// has filled it in and before the runtime is built: any field of
// [connect.SinkConfig] can be set this way (Name, DLQTopic, OnExhausted,
// MaxInFlight, Config, …). The harness drives Topics[0].
func WithSinkConfig(edit func(*connect.SinkConfig)) Option {
	return func(o *options) { o.sinkCfg = append(o.sinkCfg, edit) }
}

// WithSourceConfig edits the source runtime's configuration after the
// harness has filled it in (Name, Partitions, OffsetStore, Config, …). The
// harness reads Topics[0].
func WithSourceConfig(edit func(*connect.SourceConfig)) Option {
	return func(o *options) { o.sourceCfg = append(o.sourceCfg, edit) }
}

// WithMessages sets the messages [SinkConformance] publishes: gen(i)
// returns the i-th. They must be records the sink accepts, with distinct
// payloads, and some must share a routing key. The default is a JSON
// object per message, {"id":"m-007","seq":7,"key":"k3"}, keyed by its
// "key" (four keys).
func WithMessages(gen func(i int) Message) Option { return func(o *options) { o.messages = gen } }

// WithPoison enables the dead-letter check of [SinkConformance]: m is a
// message the sink must reject with connect.InvalidData.
func WithPoison(m Message) Option { return func(o *options) { o.poison = &m } }

// WithReadBack lets [SinkConformance] look at the sink's external system:
// read returns the payloads the sink has written so far, in the order it
// wrote them (for a sink that transforms records: the payloads of the
// records it wrote). sink is the value newSink returned for the check; read
// must report only what that sink wrote, so give each sink a fresh target
// (its own table, directory or bucket). Without a read-back the checks see
// only what the sink reported to the runtime.
func WithReadBack(read func(t testing.TB, sink connect.Sink) [][]byte) Option {
	return func(o *options) { o.readBack = read }
}
