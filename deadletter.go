package connect

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/danube-connect/connect/danube"
)

// deadLetters publishes dead-letter copies for a sink or a source run:
// one reliable producer per DLQ topic (created on first use, without
// holding a lock over the network call; the tools' subscriptions are
// created with it), the same attributes and the same truncation on both
// sides, and confirmed publishing with the run's retry policy.
type deadLetters struct {
	client    *danube.Client
	connector string
	retry     RetryPolicy
	log       *slog.Logger

	mu    sync.Mutex
	prods map[string]producerAPI
}

func newDeadLetters(client *danube.Client, connector string, retry RetryPolicy, log *slog.Logger) *deadLetters {
	return &deadLetters{client: client, connector: connector, retry: retry, log: log, prods: map[string]producerAPI{}}
}

// dlqOrigin says where a dead-lettered record came from.
type dlqOrigin struct {
	topic        string // the broker topic (a sink's partition) or the source's destination topic
	partition    int    // partition index; < 0: none
	subscription string // sink only
	offset       uint64 // sink only, with hasOffset
	hasOffset    bool
	attempt      int // deliveries seen (sink); 0: not counted
	recordID     string
}

// attributes returns the attributes of the dead-letter copy: the record's
// own plus the broker's dead-letter set (x-original-topic, -subscription,
// -topic-offset, x-failure-reason, x-delivery-attempt) and
// x-original-partition, x-connector, x-error-class, x-failed-at and
// x-record-id where they apply. orig is not modified.
func (d *deadLetters) attributes(orig map[string]string, from dlqOrigin, class Class, cause error, now time.Time) map[string]string {
	m := make(map[string]string, len(orig)+10)
	for k, v := range orig {
		m[k] = v
	}
	m[AttrOriginalTopic] = from.topic
	setOrDelete(m, AttrOriginalSubscription, from.subscription)
	if from.hasOffset {
		m[AttrOriginalOffset] = strconv.FormatUint(from.offset, 10)
	} else {
		delete(m, AttrOriginalOffset)
	}
	if from.partition >= 0 {
		m[AttrOriginalPartition] = strconv.Itoa(from.partition)
	} else {
		delete(m, AttrOriginalPartition)
	}
	if from.attempt > 0 {
		m[AttrDeliveryAttempt] = strconv.Itoa(from.attempt)
	} else {
		delete(m, AttrDeliveryAttempt)
	}
	if from.recordID != "" {
		m[AttrRecordID] = from.recordID
	}
	reason := "unknown error"
	if cause != nil {
		reason = cause.Error()
	}
	m[AttrFailureReason] = truncate(reason)
	m[AttrConnector] = d.connector
	m[AttrErrorClass] = class.String()
	m[AttrFailedAt] = now.UTC().Format(time.RFC3339)
	return m
}

func setOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// publish sends out to topic and waits for the broker's confirmation,
// retrying with the retry policy's backoff (capped, never giving up) until
// it is confirmed or ctx ends; failed, if not nil, is called after each
// failed attempt. It returns nil once confirmed, else ctx's error.
func (d *deadLetters) publish(ctx context.Context, topic string, out *danube.OutgoingMessage, failed func(attempt int, err error)) error {
	for attempt := 1; ; attempt++ {
		p, err := d.producer(ctx, topic)
		if err == nil {
			err = p.Send(ctx, out)
		}
		if err == nil {
			return nil
		}
		if failed != nil {
			failed(attempt, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.log.Warn("dead-letter publish failed, retrying", "dlq_topic", topic, "attempt", attempt, "err", err)
		if !sleepCtx(ctx, d.retry.Delay(min(attempt, 30))) {
			return ctx.Err()
		}
	}
}

// producer returns the producer of topic, creating it when needed; when
// two callers race, the first one stored wins and the other is closed.
func (d *deadLetters) producer(ctx context.Context, topic string) (producerAPI, error) {
	d.mu.Lock()
	p := d.prods[topic]
	d.mu.Unlock()
	if p != nil {
		return p, nil
	}
	created, err := d.client.NewProducer(ctx, topic, danube.WithProducerName(d.connector+"-dlq"), danube.WithReliable())
	if err != nil {
		return nil, err
	}
	// Before the producer is shared: no record is dead-lettered before the
	// tools' subscriptions exist.
	createDLQSubscription(ctx, d.client, topic, d.log)
	d.mu.Lock()
	p = d.prods[topic]
	if p == nil {
		d.prods[topic] = created
	}
	d.mu.Unlock()
	if p != nil {
		_ = created.Close()
		return p, nil
	}
	return created, nil
}

// close flushes (within ctx) and closes every producer; no lock is held
// over the network calls.
func (d *deadLetters) close(ctx context.Context) {
	d.mu.Lock()
	prods := make([]producerAPI, 0, len(d.prods))
	for _, p := range d.prods {
		prods = append(prods, p)
	}
	clear(d.prods)
	d.mu.Unlock()
	for _, p := range prods {
		_ = p.Flush(ctx)
		_ = p.Close()
	}
}
