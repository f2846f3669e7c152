package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
)

// CreateTopics creates the destination topics of a source (reliable or
// not, partitioned or not, as each SourceTopic says) by attaching and
// closing a producer named producerName on each. Use it from
// Runner.BeforeSinks: a sink's new subscription starts at the latest
// message, so the topic must exist when the sink subscribes and before the
// source publishes. It returns the errors of every topic that could not
// be created.
func CreateTopics(ctx context.Context, serviceURL string, clientOpts []danube.ClientOption, producerName string, topics []connect.SourceTopic) error {
	if len(topics) == 0 {
		return nil
	}
	cl, err := danube.NewClient(ctx, serviceURL, clientOpts...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", serviceURL, err)
	}
	defer cl.Close()
	var errs []error
	for _, t := range topics {
		opts := []danube.ProducerOption{danube.WithProducerName(producerName)}
		if !t.NonReliable {
			opts = append(opts, danube.WithReliable())
		}
		if t.Partitions > 0 {
			opts = append(opts, danube.WithPartitions(t.Partitions))
		}
		p, err := cl.NewProducer(ctx, t.Topic, opts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("create topic %s: %w", t.Topic, err))
			continue
		}
		_ = p.Close()
	}
	return errors.Join(errs...)
}
