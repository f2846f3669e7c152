package config_test

import (
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
)

// TestDefaultsAgree: a file that sets nothing yields the runtime settings
// of a Go program that sets nothing (every zero field takes the connect
// package's default), field by field.
func TestDefaultsAgree(t *testing.T) {
	doc := mustParse(t, `connector_name = "d"
connector = "demo"
[[topics]]
topic = "/default/d"
[demo]
endpoint = "x"
`, config.Options{})
	sink := doc.Core.SinkConfig()
	src, err := doc.Core.SourceConfig([]connect.SourceTopic{{Topic: "/default/d"}})
	if err != nil {
		t.Fatal(err)
	}
	retry := func(p connect.RetryPolicy) []any {
		return []any{p.MaxRetries, p.Initial, p.Max, p.Jitter, p.Backoff}
	}
	goRetry := []any{connect.DefaultMaxRetries, connect.DefaultRetryInitial, connect.DefaultRetryMax,
		connect.DefaultRetryJitter, connect.BackoffExponential}
	checks := []struct {
		name      string
		file, gov any
	}{
		{"sink retry", retry(sink.Retry), goRetry},
		{"source retry", retry(src.Retry), goRetry},
		{"retry multiplier (no key: the Go default)", sink.Retry.Multiplier, 0.0},
		{"batch_size", sink.Batch.MaxRecords, connect.DefaultBatchMaxRecords},
		{"batch_max_bytes", sink.Batch.MaxBytes, connect.DefaultBatchMaxBytes},
		{"batch_timeout_ms", sink.Batch.MaxWait, connect.DefaultBatchMaxWait},
		{"sink max_in_flight", sink.MaxInFlight, connect.DefaultMaxInFlight},
		{"source max_in_flight", src.MaxInFlight, connect.DefaultSourceMaxInFlight},
		{"parallelism", sink.Parallelism, 1},
		{"sink drain_timeout", sink.DrainTimeout, connect.DefaultDrainTimeout},
		{"source drain_timeout", src.DrainTimeout, connect.DefaultDrainTimeout},
		{"failure_threshold", sink.Breaker.FailureThreshold, connect.DefaultBreakerThreshold},
		{"cooldown", sink.Breaker.Cooldown, connect.DefaultBreakerCooldown},
		{"on_exhausted", sink.Topics[0].OnExhausted, connect.ExhaustedNack},
		{"nack_delay", sink.Topics[0].NackDelay, connect.DefaultNackDelay},
		{"max_redeliveries", sink.Topics[0].MaxRedeliveries, connect.DefaultMaxRedeliveries},
		{"subscription_type", sink.Topics[0].SubscriptionType, connect.SinkTopic{}.SubscriptionType},
		{"poll_interval_ms", src.PollInterval, connect.DefaultPollInterval},
		{"commit_interval", src.CommitInterval, connect.DefaultCommitInterval},
		{"offsets_dir", src.OffsetDir, connect.DefaultOffsetDir},
		{"ordering", src.Ordering, connect.SourceConfig{}.Ordering},
	}
	for _, c := range checks {
		if !equal(c.file, c.gov) {
			t.Errorf("%s: file default %v, Go default %v", c.name, c.file, c.gov)
		}
	}
}

func equal(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if !equal(as[i], bs[i]) {
				return false
			}
		}
		return true
	}
	if d, ok := b.(time.Duration); ok {
		ad, ok := a.(time.Duration)
		return ok && ad == d
	}
	return a == b
}
