// Package danube is a Go client for Danube brokers (protocol of broker
// v0.15.1): topic lookup and redirects, producers (partitioned, pipelined),
// pull consumers merged over partitions, health checks with transparent
// recreation, and the schema registry.
//
//	c, err := danube.NewClient(ctx, "http://127.0.0.1:6650", danube.WithToken(tok))
//	if err != nil { … }
//	defer c.Close()
//
//	p, err := c.NewProducer(ctx, "/default/orders", danube.WithReliable(), danube.WithPartitions(3))
//	err = p.Send(ctx, &danube.OutgoingMessage{Payload: body, Key: orderID}) // blocks until confirmed
//
//	cons, err := c.NewConsumer(ctx, "/default/orders", "billing")
//	for {
//		m, err := cons.Receive(ctx)
//		if err != nil { … }
//		handle(m)
//		_ = cons.Ack(ctx, m)
//	}
//
// # Connections
//
// A service URL "http://host:port" uses cleartext HTTP/2, "https://host:port"
// uses TLS (system roots, [WithCAFile] or [WithTLSConfig]). The client keeps
// one gRPC connection per broker connect URL and shares it. Before creating a
// producer or subscribing, it looks the topic up and adopts the broker's
// answer (Connect or Redirect: connect URL, broker URL, proxy flag); lookup
// errors are ignored. When the answer says proxy, every topic RPC carries
// "x-danube-broker-url: <broker URL>". [WithToken] or [WithTokenSource] add
// "authorization: Bearer <token>" to every RPC, over TLS or not.
//
// # Ordering
//
// A [Producer] with MaxInFlight 1 (the default) issues each send after the
// previous one was confirmed: messages are stored in call order per
// partition. With [WithMaxInFlight] > 1, [Producer.SendAsync] pipelines up to
// that many independent SendMessage RPCs: throughput rises, and order across
// concurrent sends is not guaranteed (a retried send lands after later ones).
// Keyed messages always go to partition FNV-1a-64(key) mod N; unkeyed ones
// go round-robin starting at partition 0. A [Consumer] yields each
// partition's messages in stream order and interleaves partitions.
//
// # Retries and recreation
//
// Transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) are
// retried with the [RetryPolicy] (default 5 retries, 200 ms linear backoff, 5 s
// cap, ±50 % random jitter; the connect package's runtimes use the same type
// with their own defaults); creation and subscription re-lookup the topic before
// each retry. Every producer and consumer partition runs a health check
// ([WithHealthInterval], default 5 s). When the broker no longer serves it (a
// CLOSE answer, SendMessage NOT_FOUND, PERMISSION_DENIED "…draining or
// closed…", a consumer stream NOT_FOUND or repeated stream failures) the
// client looks the topic up again and recreates the producer or re-subscribes
// the consumer under the same name; a send that hit this is retried after
// recreation. Health checks that cannot reach the broker never stop the loop:
// it keeps pinging and, after three failures in a row, tries a fresh lookup.
// Consumer streams that end (a takeover by a consumer with the same name, a
// broker dropping the consumer) or fail are reopened with backoff.
//
// # Broker outages
//
// A broker that cannot be reached (connection refused or broken, e.g. while
// it restarts) is waited for up to the reconnect timeout
// ([WithReconnectTimeout], default 60 s), not just the RetryPolicy's retries:
// sends, acks, creations and consumer streams retry at least once per second
// (gRPC reconnects on the same scale); a send that was not confirmed is sent
// again, a confirmed one never is; consumers reopen their streams (and
// re-subscribe when the broker lost them) and resume. Receive keeps waiting
// meanwhile. The client logs one line when a broker is lost, one when it is
// back and one when it gives up; single attempts are logged at Debug. Once a
// broker has been gone for the reconnect timeout, waiting operations fail
// with a retryable error matching ErrUnavailable, and so does Receive until
// the broker is back. A broker that answers UNAVAILABLE is reachable: that
// answer is retried with the RetryPolicy only.
//
// A send retried after a lost response may be stored twice, and reliable
// subscriptions redeliver unacknowledged messages after reconnects: delivery
// is at-least-once, and consumers should be idempotent. Non-reliable topics
// are at-most-once.
//
// # Errors
//
// Broker and transport errors are [*Error] values carrying the gRPC code and
// message; they match the sentinels with errors.Is:
//
//	ErrNotFound            unknown topic, producer, consumer, subject or schema
//	ErrUnauthenticated     missing or invalid token
//	ErrPermissionDenied    RBAC denial, Exclusive conflict, publish rejected (e.g. schema enforce)
//	ErrInvalidArgument     bad topic name, oversized message, bad option
//	ErrAlreadyExists       partitioned/non-partitioned topic name conflict
//	ErrFailedPrecondition  dispatch strategy or schema subject mismatch, version constraint unmet
//	ErrUnavailable         broker unreachable or topic served elsewhere (retryable)
//
// [IsRetryable] reports the transient class; the client has already retried
// such errors before returning them, so a caller retries later or gives up.
// Operations on a closed client, producer or consumer return errors matching
// [ErrClosed]. An operation whose context ended returns an error matching
// context.Canceled or context.DeadlineExceeded, never retryable.
//
// # Goroutines
//
// NewProducer and NewConsumer start goroutines (a health loop per partition,
// a stream reader per consumer partition, one per SendAsync in flight).
// Producer.Close and Consumer.Close stop and wait for their own; Client.Close
// closes every producer and consumer and waits for all of them.
package danube
