package connect_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
)

func nopSink() connect.Sink {
	return connect.SinkFunc(func(context.Context, connect.SinkRecord) error { return nil })
}

func TestNewSinkRuntimeValidation(t *testing.T) {
	valid := func() connect.SinkConfig {
		return connect.SinkConfig{Name: "s", ServiceURL: "http://127.0.0.1:6650", Topics: []connect.SinkTopic{{Topic: "/default/t"}}}
	}
	tests := []struct {
		name   string
		mutate func(*connect.SinkConfig)
		want   []string // every field the error must name
	}{
		{"valid", func(*connect.SinkConfig) {}, nil},
		{"missing everything", func(c *connect.SinkConfig) { *c = connect.SinkConfig{} }, []string{"name", "service_url", "topics"}},
		{"bad topic and dlq", func(c *connect.SinkConfig) {
			c.Topics = []connect.SinkTopic{{Topic: "orders", DLQTopic: "x"}}
		}, []string{"topics[0].topic", "topics[0].dlq_topic"}},
		{"dlq equals topic", func(c *connect.SinkConfig) { c.Topics[0].DLQTopic = "/default/t" }, []string{"topics[0].dlq_topic"}},
		{"duplicate subscription", func(c *connect.SinkConfig) {
			c.Topics = append(c.Topics, connect.SinkTopic{Topic: "/default/t", Subscription: "s"})
		}, []string{"topics[1].topic"}},
		{"retry and limits", func(c *connect.SinkConfig) {
			c.Retry = connect.RetryPolicy{Multiplier: 0.5, Jitter: 3}
			c.Parallelism = -1
			c.MaxInFlight = -5
			c.DrainTimeout = -time.Second
			c.Breaker.Cooldown = -1
		}, []string{"retry.multiplier", "retry.jitter", "parallelism", "max_in_flight", "drain_timeout", "breaker.cooldown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			_, err := connect.NewSinkRuntime(nopSink(), cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("NewSinkRuntime = %v", err)
				}
				return
			}
			if connect.ClassOf(err) != connect.ClassConfiguration || connect.ExitCode(err) != 2 {
				t.Fatalf("err = %v (class %v), want a configuration error with exit code 2", err, connect.ClassOf(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	if _, err := connect.NewSinkRuntime(nil, valid()); connect.ExitCode(err) != 2 {
		t.Fatalf("nil sink: %v", err)
	}
}

func TestNewSourceRuntimeValidation(t *testing.T) {
	src := connect.SourceConfig{Name: "g", ServiceURL: "http://x", Topics: []connect.SourceTopic{{Topic: "/default/t"}, {Topic: "/default/t", Partitions: -1}},
		PollInterval: -1}
	_, err := connect.NewSourceRuntime(genSource{}, src)
	if connect.ExitCode(err) != 2 {
		t.Fatalf("err = %v, want configuration error", err)
	}
	for _, w := range []string{"topics[1].topic", "topics[1].partitions", "poll_interval"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

func TestParseExhausted(t *testing.T) {
	for s, want := range map[string]connect.Exhausted{"": connect.ExhaustedNack, "nack": connect.ExhaustedNack, "dead_letter": connect.ExhaustedDeadLetter} {
		if got, err := connect.ParseExhausted(s); err != nil || got != want {
			t.Errorf("ParseExhausted(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := connect.ParseExhausted("drop"); connect.ExitCode(err) != 2 {
		t.Fatalf("ParseExhausted(drop) = %v", err)
	}
}

// genSource is a minimal poll source for validation tests.
type genSource struct{}

func (genSource) Open(context.Context, connect.SourceEnv) error { return nil }
func (genSource) Poll(context.Context) ([]connect.SourceRecord, error) {
	return nil, nil
}
func (genSource) Close(context.Context) error { return nil }
