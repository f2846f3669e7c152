// Package connect is the SDK for Danube connectors: the contracts a
// connector implements ([Sink], [Source] and their optional capabilities),
// the records it sees ([SinkRecord], [SourceRecord]), the four error classes
// it returns, and the runtimes ([SinkRuntime], [SourceRuntime]) that own
// everything else: the consume and publish loops, acks, retries, the circuit
// breaker, dead-lettering, offset commits, metrics, tracing and graceful
// shutdown.
//
// # From an empty directory to a running sink
//
//	mkdir orders-sink && cd orders-sink
//	go mod init example.com/orders-sink
//	go get github.com/danube-connect/connect
//
// main.go:
//
//	package main
//
//	import (
//		"context"
//		"fmt"
//		"os"
//		"os/signal"
//		"syscall"
//
//		"github.com/danube-connect/connect"
//	)
//
//	type Order struct {
//		ID  string `json:"id"`
//		Qty int    `json:"qty"`
//	}
//
//	func main() {
//		sink := connect.SinkFunc(func(ctx context.Context, rec connect.SinkRecord) error {
//			o, err := connect.JSON[Order](rec) // malformed JSON → InvalidData → DLQ
//			if err != nil {
//				return err
//			}
//			if err := store(ctx, rec.RecordID(), o); err != nil {
//				return connect.Retryable(err) // back off and try again
//			}
//			return nil // acked
//		})
//		rt, err := connect.NewSinkRuntime(sink, connect.SinkConfig{
//			Name:       "orders-sink",
//			ServiceURL: "http://127.0.0.1:6650",
//			Topics:     []connect.SinkTopic{{Topic: "/default/orders"}},
//		})
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(connect.ExitCode(err)) // 2: configuration
//		}
//		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
//		defer stop()
//		err = rt.Run(ctx) // blocks; SIGINT/SIGTERM start a graceful drain
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//		}
//		os.Exit(connect.ExitCode(err))
//	}
//
// Run it against a local broker (`danube-connect devbroker` starts one) with
// `go run .`. Libraries never install signal handlers; main does, as above.
// A bigger sink declares a type with Open, Write and Close, and optionally
// WriteBatch ([BatchSink]) and HealthCheck ([HealthChecker]); the
// conformance check `var _ connect.BatchSink = (*MySink)(nil)` catches
// signature mistakes at compile time. Test it with the connecttest kit
// against the devbroker.
//
// A source implements Open (receiving the offsets committed by its previous
// run), Poll and Close, and gives each record a [SourceOffset]; the runtime
// commits an offset only when the broker has confirmed every record up to
// it, so a restart resumes without loss. Event-driven sources (MQTT,
// webhooks) implement [StreamSource] and push through an [Emitter], whose
// acknowledgement callback says when a record is safe to acknowledge
// upstream. A record the runtime dead-letters (it does not encode or its
// topic's schema rejects it) is safe once its dead-letter copy is
// confirmed, so Emit acknowledges it like a stored one (an MQTT source
// sends its PUBACK); a source that must tell its client the record was
// refused (a webhook answering 422) emits with [Emitter.EmitOutcome],
// whose [Outcome] says whether the record was stored or dead-lettered,
// and why.
//
// # Behaviour table
//
// The runtime decides what to do with a record from the class of the error
// the connector returned ([ClassOf]; the outermost classified error in a
// wrapped chain wins):
//
//	| Class          | Constructor        | Sink runtime                                                        | Source runtime                                  |
//	|----------------|--------------------|---------------------------------------------------------------------|-------------------------------------------------|
//	| (nil)          |                    | Ack                                                                 | record published, offset committed once confirmed |
//	| Retryable      | Retryable(err)     | retry with SinkConfig.Retry while other partitions keep flowing;     | Poll retried with backoff; Fatal after          |
//	|                |                    | exhausted → Nack with NackDelay (broker redelivers), or dead-letter  | MaxRetries consecutive failures                 |
//	|                |                    | when OnExhausted = ExhaustedDeadLetter or after MaxRedeliveries      |                                                 |
//	| InvalidData    | InvalidData(err)   | publish to the DLQ topic (confirmed), then Ack; never dropped        | Poll: logged and counted; an unencodable record |
//	|                |                    |                                                                     | or a raw payload its topic's schema rejects is  |
//	|                |                    |                                                                     | dead-lettered (confirmed) before its offset     |
//	|                |                    |                                                                     | is committed                                    |
//	| Fatal          | Fatal(err)         | stop: nothing after the failing record is acked, Close is called,   | stop: intake stops, confirmed offsets are       |
//	|                |                    | Run returns the error (exit code 1); unacked records are redelivered | committed, Close is called, Run returns the error |
//	| Configuration  | Configuration(err) | refuse to start (construction or Open), exit code 2                 | same                                            |
//	| (unclassified) |                    | treated as Retryable                                                | treated as Retryable                            |
//	| (panic)        |                    | recovered at the runtime boundary → Fatal with the stack            | same                                            |
//
// Unclassified errors are Retryable because the usual unclassified error is
// a transient I/O failure of the external system; retries are bounded, and
// an exhausted record is nacked or dead-lettered, never lost.
//
// There is always a DLQ: when SinkTopic.DLQTopic is empty the default
// "{logical topic}-dlq" is used (see [DefaultDLQTopic]). A dead-letter copy
// keeps the payload, key and attributes and adds the broker's own
// dead-letter attributes (x-original-topic, x-original-subscription,
// x-original-topic-offset, x-failure-reason, x-delivery-attempt) plus
// x-original-partition, x-connector, x-error-class and x-failed-at, so one
// tool reads broker and connector DLQs. The original is acked only after
// the broker confirmed the copy; while the DLQ publish fails it is retried
// and the original stays unacked.
//
// # Delivery guarantees
//
//   - A message is acked only after the sink handled it or its dead-letter
//     copy was confirmed. Delivery is at least once: a crash between the
//     write and the ack redelivers; sinks that must not duplicate use
//     [SinkRecord.RecordID] (the x-record-id attribute set by source
//     runtimes) or the broker offset as an idempotency key.
//   - A source offset is committed (to the [OffsetStore], then to the
//     source's [Committer]) only when every record up to it on its source
//     partition has been confirmed by the broker.
//   - Every queue is bounded. The sink runtime holds at most
//     SinkConfig.MaxInFlight unresolved records per topic partition and
//     stops receiving that partition when it is reached or its lane's
//     queue is full, and every partition of a topic while that topic's
//     circuit breaker is open (each topic has its own); the
//     source runtime blocks Poll and Emit at SourceConfig.MaxInFlight
//     unconfirmed records.
//   - Source records keep their order on the broker per [Ordering]: by
//     default records with the same routing key are published one after
//     the other while other keys, and records without a key, are
//     pipelined; [OrderPerPartition] keeps the upstream order of each
//     source partition, at one broker round trip per record of a
//     partition; [OrderNone] pipelines everything.
//   - Batches never wait for records the broker will not send. A Danube
//     broker lets a subscription hold only a few unacked messages (10 by
//     default), so a batch is written when it is full, when
//     [BatchPolicy].MaxWait is up, or as soon as the stream has nothing
//     more to give: the topic holds as many unresolved records as it ever
//     held at once (the broker's window, or MaxInFlight) with nothing
//     queued, or no record arrived for 2 ms. Each record is acked as soon
//     as it is resolved, while the next batch is written, so the window
//     refills at once: the defaults run near the broker's limit whatever
//     its window.
//   - One receive path per topic partition: each partition has its own
//     consumer, in-flight bound and intake, and each partition (and key
//     shard, with Parallelism > 1) its own worker, so a partition whose
//     records are backing off or slow, with any backlog, does not stop the
//     others: backpressure reaches only its own stream, where the broker's
//     window holds the rest. Records with the same routing key on one
//     partition are written in order.
//
// # Shutdown
//
// Cancelling the context given to Run starts a graceful drain with one
// deadline, DrainTimeout after the stop began, like http.Server.Shutdown:
// intake stops; the batch being written (sink) or the records in flight
// (source) get until the deadline to finish and be acked or confirmed; the
// source resolves every record still in flight (each Emit ack callback has
// fired, with an error for the unconfirmed ones) and commits its confirmed
// offsets a last time; the connector's Close is called with the same
// deadline; the client is closed. Records not finished stay unacked (or
// uncommitted) and are redelivered (re-read). A Fatal error takes the same
// path and Run returns it.
//
// # Observability
//
// [WithLogger] takes a *slog.Logger (default: discard): Info for the
// lifecycle, Warn for retried failures, Error for what needs a person
// (dead-lettered records, fatal errors); payloads never above Debug.
// [WithMetrics] registers the danube_connector_* Prometheus collectors on a
// Registerer (default: none), labelled by connector and logical topic:
// messages_received_total, messages_processed_total,
// messages_failed_total{error_type}, messages_retried_total,
// processing_duration_seconds, inflight_messages, publish_duration_seconds,
// batch_size, dlq_messages_total, end_to_end_latency_seconds and health.
// [WithTracerProvider] enables OpenTelemetry spans (a span per batch) with
// W3C trace context carried in the traceparent attribute. Ready reports
// readiness for /readyz.
//
// # Schemas
//
// A [SinkTopic.Decoder] decodes payloads into [SinkRecord.Value] and fills
// [SinkRecord.Schema]; a [SourceTopic.Encoder] encodes [SourceRecord.Value]
// and names the schema each message carries. Both are nil by default:
// payload bytes pass through untouched, and a record Value is encoded as
// JSON.
//
// With the schema registry: [SourceTopic.Schema] (a schema.Spec) makes the
// source runtime register and resolve the topic's schema at start, encode
// every Value with it, and check every raw Payload against it
// ([PayloadValidator]); [SinkTopic.SchemaSubject] makes the sink runtime
// decode every record with the schema it carries. What does not match is
// dead-lettered as InvalidData on either side:
//
//	| Record                                  | Source runtime, topic with a Schema          | Sink runtime, topic with a SchemaSubject      |
//	|-----------------------------------------|----------------------------------------------|-----------------------------------------------|
//	| Value that encodes                      | published with the schema id and version     |                                               |
//	| Value that does not encode              | dead-lettered (x-error-class invalid_data)   |                                               |
//	| raw Payload the schema accepts          | published as is, with the schema id          |                                               |
//	| raw Payload the schema rejects          | dead-lettered, never published               |                                               |
//	| message matching its schema             |                                              | Value decoded; Write called                   |
//	| message not matching / other subject    |                                              | dead-lettered, then acked                     |
//	| message without schema id               |                                              | passed through (Value is the payload)         |
//	| registry unreachable                    | Run fails at start (retried by the client)   | retried like a write, then nack/dead-letter   |
//
// A stream source learns of a dead-lettered record through
// [Emitter.EmitOutcome] (Outcome.DeadLettered); through Emit it is
// acknowledged like a stored one.
//
// In a sink, [Decode] turns a record into a Go type with the schema it was
// decoded with (an avro record into a struct with avro tags), or from JSON
// when the record has no schema.
package connect
