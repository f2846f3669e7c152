package connect

import (
	"context"
	"errors"
	"fmt"

	"github.com/danube-connect/connect/danube"
)

func (run *sourceRun) newTopic(ctx context.Context, tc SourceTopic) (*sourceTopic, error) {
	r := run.r
	enc, err := sourceEncoder(ctx, run.client, tc)
	if err != nil {
		return nil, err
	}
	tc.Encoder = enc
	opts := []danube.ProducerOption{danube.WithProducerName(r.cfg.Name), danube.WithMaxInFlight(r.cfg.MaxInFlight)}
	if !tc.NonReliable {
		opts = append(opts, danube.WithReliable())
	}
	if tc.Partitions > 0 {
		opts = append(opts, danube.WithPartitions(tc.Partitions))
	}
	if tc.Encoder != nil {
		opts = append(opts, danube.WithSchema(tc.Encoder.SchemaRef()))
	}
	p, err := run.client.NewProducer(ctx, tc.Topic, opts...)
	if err != nil {
		return nil, producerError(fmt.Errorf("create producer on %s: %w", tc.Topic, err))
	}
	if tc.DLQTopic == "" {
		tc.DLQTopic = DefaultDLQTopic(tc.Topic)
	}
	t := &sourceTopic{cfg: tc, prod: p, m: r.metrics.forTopic(r.cfg.Name, tc.Topic)}
	t.val, _ = tc.Encoder.(PayloadValidator)
	run.topicsMu.Lock()
	run.topics[tc.Topic] = t
	run.topicsMu.Unlock()
	return t, nil
}

// producerError classifies a failure to create a producer: one that can
// never succeed is a Configuration error (the broker rejects the topic or
// its settings: InvalidArgument) or a Fatal one (the credentials do not
// allow it); anything else stays unclassified, so Retryable.
func producerError(err error) error {
	switch {
	case errors.Is(err, danube.ErrInvalidArgument):
		return Configuration(err)
	case errors.Is(err, danube.ErrPermissionDenied), errors.Is(err, danube.ErrUnauthenticated):
		return Fatal(err)
	}
	return err
}

// topic returns the topic state for name, creating a reliable producer for
// a topic not in the configuration; transient creation failures are
// retried until the runtime stops. A name that cannot be used (malformed,
// or rejected by the broker as an invalid argument) yields nil: the record
// is dead-lettered. A refusal of the credentials stops the runtime.
func (run *sourceRun) topic(ctx context.Context, name string) (*sourceTopic, error) {
	if name == "" {
		return run.first, nil
	}
	run.topicsMu.Lock()
	t := run.topics[name]
	run.topicsMu.Unlock()
	if t != nil {
		return t, nil
	}
	if !validTopic(name) {
		return nil, nil
	}
	// One caller creates the producer, without holding a lock over the
	// network calls; the others wait for it.
	for {
		run.topicsMu.Lock()
		t := run.topics[name]
		wait, creating := run.creating[name]
		if t == nil && !creating {
			run.creating[name] = make(chan struct{})
		}
		run.topicsMu.Unlock()
		if t != nil {
			return t, nil
		}
		if !creating {
			break
		}
		select {
		case <-wait:
		case <-run.stopCtx.Done():
			return nil, ErrStopped
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer func() {
		run.topicsMu.Lock()
		close(run.creating[name])
		delete(run.creating, name)
		run.topicsMu.Unlock()
	}()
	for attempt := 1; ; attempt++ {
		t, err := run.newTopic(run.stopCtx, SourceTopic{Topic: name})
		switch ClassOf(err) {
		case ClassNone:
			return t, nil
		case ClassConfiguration:
			run.r.log.Error("record topic rejected by the broker", "topic", name, "err", err)
			return nil, nil
		case ClassFatal:
			run.fail(err)
			return nil, err
		}
		run.r.log.Warn("creating producer failed, retrying", "topic", name, "attempt", attempt, "err", err)
		if !sleepCtx(run.stopCtx, run.r.cfg.Retry.Delay(min(attempt, 30))) {
			return nil, ErrStopped
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// closeProducers closes every producer; pending sends fail and their
// callbacks have run when it returns. No lock is held while closing.
func (run *sourceRun) closeProducers(ctx context.Context) {
	run.topicsMu.Lock()
	topics := make([]*sourceTopic, 0, len(run.topics))
	for _, t := range run.topics {
		topics = append(topics, t)
	}
	run.topicsMu.Unlock()
	for _, t := range topics {
		_ = t.prod.Close()
	}
	run.dlq.close(ctx)
}
