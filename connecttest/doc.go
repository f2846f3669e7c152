// Package connecttest is the acceptance kit for connectors: it runs a sink
// or a source in the real runtimes of package connect against a real
// broker — a [devbroker] inside the test process, spoken to over loopback
// gRPC — in an ordinary go test. No Docker, no cluster.
//
//	func TestOrdersSink(t *testing.T) {
//		run := connecttest.RunSink(t, NewOrdersSink())
//		run.Publish(
//			connecttest.Message{Value: Order{ID: "a", Qty: 1}, Key: "customer-1"},
//			connecttest.Message{Payload: []byte(`{"id":`)}, // malformed
//		)
//		rep := run.Wait()
//		if len(rep.Written) != 1 || len(rep.DeadLettered) != 1 {
//			t.Fatalf("%v", rep)
//		}
//	}
//
// # What runs
//
// [RunSink] starts a broker ([StartBroker]: 127.0.0.1 on a random port,
// data in t.TempDir()), a producer for the test's messages and a
// [connect.SinkRuntime] for the sink: the runtime `danube-connect run`
// uses, with its batching, retries, circuit breaker, acks and
// dead-lettering, configured for tests (millisecond backoffs and
// redeliveries; the options change that). [RunSource] runs a
// [connect.SourceRuntime] for a poll or stream source, with its offsets in
// a file store in t.TempDir(). Nothing is mocked: records travel through
// the Danube client, the wire protocol and the broker's log.
//
// Everything a harness starts is stopped and closed by t.Cleanup. Every
// wait polls the broker every few milliseconds, bounded by a timeout
// derived from the test's deadline ([WithTimeout]); running out of time
// fails the test with what was seen so far.
//
// # What the helpers report
//
// [SinkRun.Wait] returns once every message the test published is
// resolved, or the runtime stopped on a fatal error. Its [SinkReport] says
// which offsets the broker counts as acknowledged, which records the sink
// reported as written, which were dead-lettered (the copies on the DLQ
// topic, with the x-error-class, x-failure-reason and x-delivery-attempt
// attributes decoded), and what Run returned with its exit code.
// [SinkRun.Stop] stops the runtime as SIGTERM would; [SinkRun.Restart]
// starts a fresh sink on the same subscription, which gets the records
// left unacknowledged.
//
// [SourceRun.Wait] waits for n messages on the topic and returns them with
// topic, partition, offset, key, attributes and record id;
// [SourceRun.Committed] reads the offset store; [SourceRun.Restart] stops
// the runtime and starts a fresh source on the same broker and offsets, so
// a test can assert that it resumes without loss and without gaps.
//
// The harnesses fail a test only when they cannot do their part (start
// the runtime, publish, see the outcome in time); what the report must say
// is the test's to decide. [SinkConformance] decides for it: it runs the checks every sink should
// pass (every record written or dead-lettered, same-key order, Close once,
// poison records dead-lettered with the right attributes), as subtests.
// [SourceConformance] does the same for a source driven through a
// [SourceFixture] (its upstream): records in order per key, upstream
// acknowledgement only after the broker stored a record, no loss across a
// restart, a clean stop leaving no goroutine, poison records dead-lettered.
//
// # Fault injection
//
// The broker is a [devbroker.Broker] ([SinkRun.Broker], [SourceRun.Broker],
// or one of the test's own through [WithBroker]); use it directly to inject
// faults and to look inside:
//
//	b := run.Broker()
//	b.FailNext("/danube.ProducerService/SendMessage", 2, codes.Unavailable) // the next two publishes fail
//	b.Restart(ctx)                                                          // streams break, state is kept
//	b.CloseConsumer(run.Topic(), connecttest.SinkName, connecttest.SinkName) // the sink's health check answers CLOSE
//	b.Subscription(run.Topic(), connecttest.SinkName)                        // cursor, in flight, redeliveries
package connecttest
