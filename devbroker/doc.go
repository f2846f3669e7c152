// Package devbroker is an embeddable, wire-compatible Danube broker for tests, benchmarks, chaos
// runs and local development. It serves Danube's real gRPC protocol (broker v0.15.1) on one h2c
// (or TLS) listener — danube.ProducerService, ConsumerService, Discovery, HealthCheck,
// StorageService and danube_schema.SchemaRegistry — so the same client code runs against it and
// against production brokers.
//
// # Use in tests
//
//	func TestSomething(t *testing.T) {
//		b, err := devbroker.Start(t.Context(), devbroker.Config{
//			DataDir:   t.TempDir(),          // "" = purely in memory
//			TimerTick: 5 * time.Millisecond, // fast ack timeouts and redelivery delays
//			FailurePolicy: devbroker.FailurePolicy{
//				AckTimeout: 200 * time.Millisecond, BaseRedeliveryDelay: time.Millisecond,
//			},
//		})
//		if err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(func() { b.Close() })
//		client := connectTo(b.URL()) // "http://127.0.0.1:PORT"
//		…
//	}
//
// [Start] returns once the broker listens on 127.0.0.1 with a random port (see [Config.Addr]);
// cancelling its context closes the broker, and [Broker.Close] is idempotent. A broker owns one
// gRPC server and one timer goroutine; Close stops both.
//
// # What it implements
//
//   - Topics "/namespace/topic" (segments of letters, digits, '_' and '-'; anything else is
//     INVALID_ARGUMENT) in the namespaces "default", "system" and [Config.Namespaces]. Producers
//     auto-create topics with the dispatch strategy they ask for (unless
//     [Config.DisableAutoCreate]); Subscribe never creates topics (NOT_FOUND). Partitions are
//     ordinary topics named "-part-N"; a base name and its partitions cannot coexist
//     (ALREADY_EXISTS). TopicLookup answers Connect with the advertised URL, TopicPartitions the
//     topic itself or its partitions ordered by index.
//   - Producers are idempotent by (topic, name) with random non-zero ids. Schema subjects bind
//     to topics on CreateProducer (the subject must be registered) or ConfigureTopicSchema, and
//     every SendMessage is validated with the topic's policy.
//   - Non-reliable topics are at-most-once: a message goes to the subscriptions that have an
//     active consumer at publish time and is dropped when that consumer's buffer (1024
//     messages) is full; topic_offset stays as the producer sent it.
//   - Reliable topics keep their messages in a log with 0-based, gap-free offsets stamped into
//     msg_id.topic_offset. A subscription starts at the latest offset when it is created (the
//     position is fixed before Subscribe answers) and keeps a window of
//     [Config.MaxUnackedMessages] unacknowledged messages; acks may come out of order, the
//     cursor advances over the contiguous acknowledged prefix. Nack, ack timeout, redelivery
//     delays and the poison policies (Block, Drop, DeadLetter with the broker's x-* attributes)
//     follow [FailurePolicy]. Acknowledged messages are deleted by the retention (below).
//     Exclusive, Shared (round robin), Failover and KeyShared
//     (consistent hashing of routing_key, else producer_name, with glob key filters and one
//     unacknowledged message per key) subscriptions are supported.
//   - Status codes are those of a Danube broker, without details.
//
// # Following a message
//
// SendMessage (producer_service.go) finds the producer, checks size and schema and calls
// topic.publish (state.go). A non-reliable publish hands the message to each subscription's
// publishNonReliable, which puts it into one consumer's buffered channel or drops it. A reliable
// publish appends it to the topic log (topiclog.go), waits until it is durable and then calls
// kick on every subscription (subscription.go): under the subscription's lock, kick expires
// timers, reads new messages from the log into the window and puts every ready message into the
// chosen consumer's channel. The ReceiveMessages handler (consumer_service.go) sends from that
// channel to the gRPC stream. Ack and Nack come back to the subscription and kick it again; the
// timer goroutine kicks every reliable subscription each [Config.TimerTick].
//
// Locks are taken in the order state → topic → subscription → topic log; the id tables, the
// journal and the registry have leaf locks. Dead-letter copies are published with no lock held.
//
// # Durability and fsync policies
//
// With a [Config.DataDir] the broker persists reliable topic logs (append-only segment files
// with length+CRC framing; a torn tail left by a crash is truncated on start), topics,
// producers and consumers (name → id), subscriptions with their cursors and topic schema
// bindings (a journal, meta.log, compacted at every start) and the schema registry. State
// survives [Broker.Restart], Close followed by Start, and kill -9. [Config.Sync] decides when a
// SendMessage on a reliable topic is answered:
//
//   - [SyncBatched] (default): group commit. Concurrent publishes share one write and one
//     fsync, and each is answered only after the fsync that covers it.
//   - [SyncEveryPublish]: one write and one fsync per message.
//   - [SyncNever]: written before the answer but never fsynced: survives a process kill, not a
//     power loss.
//
// Cursors are written every timer tick without fsync (and with fsync on Close), so after a crash
// a subscription may redeliver messages acknowledged shortly before it (at-least-once). Topic,
// producer, subscription and consumer records are fsynced when created (except under
// SyncNever).
//
// # Retention and memory
//
// With a DataDir, reliable messages are read back from the segment files; memory holds only the
// most recent ones per topic, up to [Config.ReadCacheBytes] (default 1 MiB), so a subscription
// that lags behind costs disk, not memory. Without one, every retained message is in memory.
//
// A message is deleted once every subscription of its topic acknowledged it (a topic without
// subscriptions counts as acknowledged: new subscriptions start at the latest message anyway)
// and it is beyond the retention: the topic keeps more than [Config.RetentionBytes] (default
// 4 MiB) or it is older than [Config.RetentionTime] (default 10 minutes), like the size and
// time retention of a Danube broker. With a DataDir whole segment files go, oldest first and
// never the one being written ([Config.SegmentBytes], default 1 MiB), after the cursors were
// fsynced, so that no subscription restarts below the first retained offset after a crash; in
// memory single messages go. Unacknowledged messages are never deleted. Negative limits turn
// them off; with both off every message is kept (and, without a DataDir, in memory). The
// retention runs every [Config.TimerTick]. Under sustained load with subscriptions that keep up,
// memory stays flat: TestMemoryStaysFlat measures it (DEVBROKER_MEMORY_FULL=1 for 1M records).
//
// # Fault hooks and inspection
//
// [Broker.FailNext] and [Broker.SetLatency] act on any RPC by its full method path.
// [Broker.CloseProducer], [Broker.CloseConsumer] and [Broker.UnloadTopic] close clients as a
// topic move would (SendMessage NOT_FOUND, HealthCheck CLOSE, streams ended). [Broker.EndStreams]
// ends streams normally, [Broker.Restart] simulates a broker restart (streams fail with a
// transport error). [Broker.AddListener] and [Broker.RouteTopic] give a second address and
// Redirect/proxy answers to TopicLookup. [Broker.Topics], [Broker.Messages],
// [Broker.Subscription] and [Broker.Headers] show what happened.
//
// [Config.JWTSecret] requires `authorization: Bearer <HS256 JWT>` on every RPC (RBAC is not
// enforced); [Config.TLS] serves TLS. Like a Danube broker in tls auth mode it accepts only
// tokens signed with HS256 and the secret that carry every claim of [TokenClaims] (iss, sub,
// exp in Unix seconds with 60 s of leeway, principal_type, principal_name); [MintToken] (and
// "danube-connect token") makes one. A refused token fails with UNAUTHENTICATED
// "Invalid token: <reason>", the reason naming the missing claim or the failed check.
//
// # Differences from a Danube broker
//
// Where v0.15.1 is buggy the devbroker does the correct thing:
//
//   - Failover fails over: messages go to the earliest-joined active consumer, and in-flight
//     messages of a consumer that disconnects are redelivered to the next one. (The broker
//     dispatches only to the first consumer ever added.) Subscribe answers only after the start
//     position is fixed for Failover too.
//   - Exclusive is not sticky: a consumer with a different name may attach once the previous
//     consumer is inactive; it replaces it (the old id becomes unknown) and gets its unacked
//     messages.
//   - KeyShared never evicts idle consumers nor drops their in-flight messages; in-flight
//     messages are redelivered on reconnect as for the other types, and a Drop or DeadLetter of
//     a poison message does not discard the messages queued behind it on its key. Messages
//     arriving while a KeyShared subscription has no consumers wait instead of being skipped.
//   - A missing msg_id is INVALID_ARGUMENT (the broker panics the request).
//   - TopicPartitions returns only "-part-N" topics (the broker does a raw prefix match), and
//     "/ns/foo" may be created while "/ns/foobar" exists. TopicLookup of unknown topics is
//     NOT_FOUND.
//   - Topic names need a leading slash and non-empty segments.
//   - Topics, subscriptions and cursors are reloaded at restart (a standalone broker forgets its
//     topics), producer and consumer ids survive it, a subscription that never acked resumes
//     where it was created (not at "latest"), and cursors are persisted every tick rather than
//     at most every 10 s.
//   - The producer that auto-creates a topic applies its schema subject at once, and a subject
//     assigned by CreateProducer is persisted. GetTopicSchemaConfig returns the real subject id;
//     UpdateTopicValidationPolicy on a topic without subject changes nothing.
//   - Reliable in-flight messages are redelivered when a consumer reconnects or takes over a
//     stream, for every subscription type; ReceiveMessages answers with headers as soon as the
//     stream is attached.
//   - SetFailurePolicy applies to existing subscriptions immediately.
//   - Not implemented: RBAC, the limits max_producers/subscriptions/consumers, dispatch rate
//     limits, the x-danube-internal-broker header (ignored), the admin services and the edge
//     replicator, cloud segments (ListSegmentDescriptors is always empty) and reaping of idle
//     non-reliable subscriptions (they live until restart; their consumer ids stay known).
//   - Default timers: ack timeout 30 s, timer tick 100 ms (the broker checks every 500 ms).
package devbroker
