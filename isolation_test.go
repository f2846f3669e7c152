package connect_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
)

// TestSinkFailingPartitionWithBacklogDoesNotStopOthers queues hundreds of
// records on a partition whose writes keep failing (backing off for an
// hour) and checks that every record of the other partitions is written
// and acked meanwhile, over a real broker with a large window.
func TestSinkFailingPartitionWithBacklogDoesNotStopOthers(t *testing.T) {
	b := startBroker(t) // window 1000: the failing partition's backlog reaches the client
	c := newClient(t, b)
	const topic = "/default/iso"
	ensureTopic(t, c, topic, 3)
	rec := newRecorder(func(_ context.Context, r connect.SinkRecord) error {
		if r.Partition == 0 {
			return connect.Retryable(errors.New("row locked"))
		}
		return nil
	})
	cfg := sinkConfig(b, "iso", topic)
	cfg.Retry = connect.RetryPolicy{MaxRetries: 3, Initial: time.Hour, Max: time.Hour}
	rt, err := connect.NewSinkRuntime(rec, cfg)
	must(t, err)
	run := start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(context.Background()) == nil })

	produce(t, c, danube.PartitionTopic(topic, 0), 0, 500, 0) // the backlog of the failing partition
	produce(t, c, danube.PartitionTopic(topic, 1), 1000, 200, 0)
	produce(t, c, danube.PartitionTopic(topic, 2), 2000, 200, 0)
	eventually(t, "partitions 1 and 2 written", func() bool { return rec.count() == 400 })
	for _, p := range []int{1, 2} {
		part := danube.PartitionTopic(topic, p)
		eventually(t, "partition acked", func() bool { return unacked(t, b, part, "iso") == 0 })
	}
	if n := unacked(t, b, danube.PartitionTopic(topic, 0), "iso"); n == 0 {
		t.Fatal("the failing partition's records were acked")
	}
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestSinkOpenBreakerOfOneTopicDoesNotStopAnother: the writes of one topic
// keep failing until its circuit breaker opens; another topic's records
// are all written and acked meanwhile.
func TestSinkOpenBreakerOfOneTopicDoesNotStopAnother(t *testing.T) {
	b := startBroker(t)
	c := newClient(t, b)
	const bad, good = "/default/iso-bad", "/default/iso-good"
	ensureTopic(t, c, bad, 0)
	ensureTopic(t, c, good, 0)
	rec := newRecorder(func(_ context.Context, r connect.SinkRecord) error {
		if r.Topic == bad {
			return connect.Retryable(errors.New("table locked"))
		}
		return nil
	})
	cfg := sinkConfig(b, "iso-breaker", bad)
	cfg.Topics = append(cfg.Topics, connect.SinkTopic{Topic: good})
	cfg.Breaker = connect.BreakerPolicy{FailureThreshold: 2, Cooldown: time.Hour}
	cfg.Retry = connect.RetryPolicy{MaxRetries: 5, Initial: time.Millisecond, Max: time.Millisecond}
	rt, err := connect.NewSinkRuntime(rec, cfg)
	must(t, err)
	run := start(t, rt)
	eventually(t, "ready", func() bool { return rt.Ready(context.Background()) == nil })
	produce(t, c, bad, 0, 50, 0)
	eventually(t, "the failing topic's breaker open", func() bool {
		err := rt.Ready(context.Background())
		return err != nil && strings.Contains(err.Error(), "circuit breaker open for "+bad)
	})
	produce(t, c, good, 1000, 200, 0)
	eventually(t, "the other topic written", func() bool { return rec.count() == 200 })
	eventually(t, "the other topic acked", func() bool { return unacked(t, b, good, "iso-breaker") == 0 })
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
