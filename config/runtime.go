package config

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/danube"
)

// ClientOptions returns the client options the core keys imply (token, CA
// file).
func (c *Core) ClientOptions() []danube.ClientOption {
	var opts []danube.ClientOption
	if c.Auth.Token != "" {
		opts = append(opts, danube.WithToken(c.Auth.Token))
	}
	if c.Auth.CAFile != "" {
		opts = append(opts, danube.WithCAFile(c.Auth.CAFile))
	}
	return opts
}

// RetryPolicy converts [retry] to the runtime's policy.
func (c *Core) RetryPolicy() connect.RetryPolicy {
	r := c.Retry
	p := connect.RetryPolicy{
		MaxRetries: r.MaxRetries,
		Initial:    time.Duration(r.RetryBackoffMS) * time.Millisecond,
		Max:        time.Duration(r.MaxBackoffMS) * time.Millisecond,
		Jitter:     r.Jitter,
	}
	if p.MaxRetries == 0 {
		p.MaxRetries = -1 // zero in the file means none; zero in RetryPolicy means the default
	}
	if p.Jitter == 0 {
		p.Jitter = -1
	}
	p.Backoff, _ = connect.ParseBackoff(r.Backoff) // validated by the enum tag
	return p
}

// SubscriptionType converts a validated subscription_type value.
func SubscriptionType(s string) danube.SubscriptionType {
	switch s {
	case "exclusive":
		return danube.Exclusive
	case "failover":
		return danube.Failover
	case "key_shared":
		return danube.KeyShared
	}
	return danube.Shared
}

// SinkConfig converts the core keys to a sink runtime configuration. The
// caller adds decoders and connector-specific settings.
func (c *Core) SinkConfig() connect.SinkConfig {
	cfg := connect.SinkConfig{
		Name:          c.ConnectorName,
		ServiceURL:    c.DanubeServiceURL,
		ClientOptions: c.ClientOptions(),
		Retry:         c.RetryPolicy(),
		Breaker:       connect.BreakerPolicy{FailureThreshold: c.Breaker.FailureThreshold, Cooldown: c.Breaker.Cooldown},
		Batch: connect.BatchPolicy{
			MaxRecords: c.Processing.BatchSize,
			MaxBytes:   c.Processing.BatchMaxBytes,
			MaxWait:    time.Duration(c.Processing.BatchTimeoutMS) * time.Millisecond,
		},
		MaxInFlight:  c.Processing.MaxInFlight,
		Parallelism:  c.Processing.Parallelism,
		DrainTimeout: orDefault(c.Processing.DrainTimeout),
	}
	if cfg.Breaker.Cooldown == 0 {
		cfg.Breaker.Cooldown = time.Nanosecond
	}
	for _, t := range c.Topics {
		on := t.OnExhausted
		if on == "" {
			on = c.DeadLetter.OnExhausted
		}
		ex, _ := connect.ParseExhausted(on)
		nack := t.NackDelay
		if nack == 0 {
			nack = c.DeadLetter.NackDelay
		}
		redeliveries := t.MaxRedeliveries
		if redeliveries == 0 {
			redeliveries = c.DeadLetter.MaxRedeliveries
		}
		if redeliveries == 0 {
			redeliveries = -1 // dead-letter at the first exhaustion is ExhaustedDeadLetter; 0 in the file means "never nack twice"
			ex = connect.ExhaustedDeadLetter
		}
		cfg.Topics = append(cfg.Topics, connect.SinkTopic{
			Topic:            t.Topic,
			Subscription:     t.Subscription,
			SubscriptionType: SubscriptionType(t.SubscriptionType),
			SchemaSubject:    t.SchemaSubject,
			DLQTopic:         t.DLQTopic,
			OnExhausted:      ex,
			NackDelay:        max(nack, time.Millisecond),
			MaxRedeliveries:  redeliveries,
		})
	}
	return cfg
}

// SourceConfig converts the core keys to a source runtime configuration
// publishing to topics (declared by the connector's section).
func (c *Core) SourceConfig(topics []connect.SourceTopic) connect.SourceConfig {
	return connect.SourceConfig{
		Name:           c.ConnectorName,
		ServiceURL:     c.DanubeServiceURL,
		ClientOptions:  c.ClientOptions(),
		Topics:         topics,
		Retry:          c.RetryPolicy(),
		MaxInFlight:    c.Processing.MaxInFlight,
		PollInterval:   time.Duration(c.Processing.PollIntervalMS) * time.Millisecond,
		CommitInterval: max(c.Source.CommitInterval, time.Millisecond),
		DrainTimeout:   orDefault(c.Processing.DrainTimeout),
		OffsetDir:      c.Source.OffsetsDir,
	}
}

func orDefault(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond // zero in the file means "do not wait"; zero in the runtime means the default
	}
	return d
}

// ListenAddr returns the address of the HTTP endpoints: observability.
// http_addr, else ":" + processing.metrics_port; "" when disabled.
func (c *Core) ListenAddr() string {
	switch a := c.Observability.HTTPAddr; {
	case a == "off":
		return ""
	case a != "":
		return a
	case c.Processing.MetricsPort == 0:
		return ""
	}
	return ":" + strconv.Itoa(c.Processing.MetricsPort)
}

// LogLevel returns observability.log_level, else processing.log_level.
func (c *Core) LogLevel() slog.Level {
	s := c.Observability.LogLevel
	if s == "" {
		s = c.Processing.LogLevel
	}
	return ParseLevel(s)
}

// ParseLevel maps trace, debug, info, warn and error to slog levels (info
// for anything else).
func ParseLevel(s string) slog.Level {
	switch s {
	case "trace", "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
